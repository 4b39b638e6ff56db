/**
 * How a batch job reaches the tasks: in-process (the gateway built from the same configuration as
 * `sluice serve`, its dispatcher called directly: nothing listens) or over HTTP to a running
 * gateway (`--url`). Both answer with the task APIs' response, so the job does not care which.
 */
import { randomBytes } from 'node:crypto';
import { abortError, GatewayError, isErrorCode, toGatewayError, upstreamCode } from '../../errors.js';
import type { Gateway } from '../../gateway/gateway.js';
import { redactText, parseRedactMode } from '../../privacy/redact.js';
import { ApiCall } from '../../server/request-context.js';
import type { TaskName, TaskResponse } from '../service.js';

export type BatchTask = TaskName | 'redact';
export type BatchRoute = 'local' | 'cloud' | 'none';

export interface BatchCallOptions {
  signal: AbortSignal;
  /** A reason when no more cloud calls may be made (the job's --max-cost is spent). */
  remoteForbidden: () => string | undefined;
}

/** A task response, or redaction's (which calls no model). */
export type BatchResponse = TaskResponse | { object: 'redaction'; redacted: string; entities: unknown[]; route: 'local'; usage?: undefined; model?: undefined };

export interface TaskClient {
  /** Baseline model of the cost comparison (null: not known, e.g. a remote gateway). */
  readonly baselineModel: string | null;
  run(task: BatchTask, body: Record<string, unknown>, options: BatchCallOptions): Promise<BatchResponse>;
  close(): Promise<void>;
}

export class InProcessClient implements TaskClient {
  readonly baselineModel: string;
  private readonly jobId = randomBytes(4).toString('hex');
  private seq = 0;

  constructor(private readonly gateway: Gateway) {
    this.baselineModel = gateway.tasks.settings.baselineModel;
  }

  async run(task: BatchTask, body: Record<string, unknown>, options: BatchCallOptions): Promise<BatchResponse> {
    if (options.signal.aborted) throw abortError(options.signal.reason);
    if (task === 'redact') {
      const mode = parseRedactMode(body.mode);
      if (!mode) throw new GatewayError({ status: 400, message: `unknown redaction mode ${JSON.stringify(body.mode)}` });
      const r = redactText(this.gateway.privacy, String(body.text ?? ''), mode);
      return { object: 'redaction', redacted: r.redacted, entities: r.entities, route: 'local' };
    }
    // One ApiCall per document: the same usage event (ledger row, task name) as over HTTP.
    const call = new ApiCall(`batch_${this.jobId}_${(++this.seq).toString(36)}`, 'chat.completions', this.gateway.events);
    call.keyName = 'sluice-run';
    call.task = task;
    const run = this.gateway.tasks.newRun(call, { signal: options.signal, remoteForbidden: options.remoteForbidden });
    try {
      const response = await this.gateway.tasks.run(task, body, run);
      run.applyTo(call, task);
      call.finish('ok', 200);
      return response;
    } catch (err) {
      run.applyTo(call, task);
      const e = options.signal.aborted ? abortError(options.signal.reason) : toGatewayError(err);
      call.finish(e.status === 499 ? 'aborted' : 'error', e.status, e);
      throw e;
    }
  }

  close(): Promise<void> {
    return this.gateway.close();
  }
}

/** Accepts `http://host:port`, `.../v1` or `.../v1/`. */
export function gatewayBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--url must be a URL such as http://127.0.0.1:8787 (got "${url}")`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--url must be http:// or https:// (got "${url}")`);
  return u.href.replace(/\/+$/, '').replace(/\/v1$/, '');
}

export class HttpClient implements TaskClient {
  readonly baselineModel = null;
  private readonly base: string;

  constructor(
    url: string,
    private readonly key: string | undefined,
  ) {
    this.base = gatewayBaseUrl(url);
  }

  async run(task: BatchTask, body: Record<string, unknown>, options: BatchCallOptions): Promise<BatchResponse> {
    const forbidden = options.remoteForbidden();
    const payload = forbidden !== undefined && task !== 'redact' ? { ...body, local_only: true } : body;
    let res: Response;
    try {
      res = await fetch(`${this.base}/v1/tasks/${task}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.key ? { authorization: `Bearer ${this.key}` } : {}) },
        body: JSON.stringify(payload),
        signal: options.signal,
      });
    } catch (err) {
      if (options.signal.aborted) throw abortError(options.signal.reason);
      throw new GatewayError({ status: 502, code: 'upstream_unreachable', message: `cannot reach ${this.base}: ${err instanceof Error ? err.message : String(err)}`, retryable: true });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GatewayError({ status: 502, code: 'upstream_bad_response', message: `${this.base} answered ${res.status} with something that is not JSON` });
    }
    if (!res.ok) {
      const e = (json as { error?: { message?: string; code?: string; param?: string } }).error ?? {};
      const code = typeof e.code === 'string' ? (isErrorCode(e.code) ? e.code : upstreamCode(e.code)) : null;
      throw new GatewayError({ status: res.status, code, param: e.param ?? null, message: e.message ?? `HTTP ${res.status}` });
    }
    if (task === 'redact') {
      const r = json as { redacted: string; entities: unknown[] };
      return { object: 'redaction', redacted: r.redacted, entities: r.entities, route: 'local' };
    }
    return json as TaskResponse;
  }

  async close(): Promise<void> {}
}

/**
 * The privacy guard sluice runs by default. For every attempt at a `remote` target it finds the
 * personal and secret data in what would leave (message texts, tool-call arguments, prompts,
 * embedding inputs, the `user` field), applies the policy's mode per type, and hands the
 * dispatcher a rewritten body and a restorer for the answer. Local targets get the original body
 * and cost nothing.
 *
 * Fails closed: a detector error, a scan over its time budget, or input it cannot read (token-id
 * embeddings) refuses the attempt with 503 `privacy_guard_failed`; a type whose mode is `block`
 * refuses it with 403 `pii_blocked` (the dispatcher then tries a local target, if the plan has
 * one). Neither error, nor the audit record, nor any log line ever carries a detected value.
 */
import { randomBytes } from 'node:crypto';
import type { CallContext } from '../backends/types.js';
import type { Endpoint } from '../api/types.js';
import { GatewayError, gatewayError } from '../errors.js';
import type { GuardTarget, PrivacyGuard, Restorer } from './guard.js';
import { DEFAULT_PRIVACY, PolicyBook, type ModeTable, type PrivacyConfig } from './policy.js';
import type { Mode } from './pseudonyms.js';
import { Redactor } from './redactor.js';
import { MapRestorer } from './restorer.js';
import { ScanFailure, scan, warmUp, type ScanOptions } from './scanner.js';
import type { Detector, EntityType, Finding } from './types.js';

export interface PrivacyAudit {
  requestId: string;
  keyName: string | null;
  endpoint: Endpoint;
  backend: string;
  /** sent: nothing found; protected: values replaced; blocked: refused by policy; failed: guard error. */
  outcome: 'sent' | 'protected' | 'blocked' | 'failed';
  /** Count of findings per type (never values). */
  found: Partial<Record<EntityType, number>>;
  /** Mode applied per type found. */
  actions: Partial<Record<EntityType, Mode>>;
  scanMs: number;
}

export interface DetectingGuardOptions {
  config?: Partial<PrivacyConfig>;
  /** Replaces the detectors (tests inject failing ones). */
  detectors?: readonly Detector[];
  /** Receives one record per request and remote target. Must not throw. */
  onAudit?: (audit: PrivacyAudit) => void;
  /** Key for hashes and pseudonyms; default from `secretEnv`, else random per process. */
  secret?: Buffer;
  now?: () => number;
}

interface TextSlot {
  get(): string;
  /** Returns a copy of `root` with this text replaced (copy-on-write along the path). */
  set(root: any, value: string): any;
}

interface RequestState {
  redactor: Redactor;
  findings: Map<string, Finding[]>;
  audited: Set<string>;
}

const identity: Restorer = { restore: (r) => r, restoreChunk: (c) => c, flush: () => null };

export class DetectingGuard implements PrivacyGuard {
  readonly config: PrivacyConfig;
  private readonly policies: PolicyBook;
  private readonly secret: Buffer;
  private readonly states = new WeakMap<CallContext, RequestState>();
  private readonly scanOptions: ScanOptions;

  constructor(private readonly options: DetectingGuardOptions = {}) {
    this.config = { ...DEFAULT_PRIVACY, ...options.config };
    this.policies = new PolicyBook(this.config);
    const fromEnv = this.config.secretEnv ? process.env[this.config.secretEnv] : undefined;
    this.secret = options.secret ?? (fromEnv ? Buffer.from(fromEnv) : randomBytes(32));
    this.scanOptions = { detectors: options.detectors, minScore: this.config.minScore, now: options.now };
    if (this.config.enabled) warmUp();
  }

  /** The modes in force for a key and model alias (for the redact API and tests). */
  modesFor(keyName: string | undefined, alias: string | undefined): ModeTable {
    return this.policies.modes(keyName, alias);
  }

  /** A fresh redactor sharing this guard's key (the redact API: same pseudonyms as the gateway). */
  newRedactor(): Redactor {
    return new Redactor(this.secret);
  }

  /** Scans one text with this guard's detectors, score threshold and time budget. */
  scan(text: string): Finding[] {
    return scan(text, { ...this.scanOptions, budgetMs: this.budgetFor(text.length) });
  }

  private budgetFor(chars: number): number {
    return this.config.timeBudgetMs * Math.max(1, chars / 100_000);
  }

  protect<T extends object>(endpoint: Endpoint, body: T, target: GuardTarget, ctx: CallContext): { body: T; restorer: Restorer } {
    if (!this.config.enabled || target.locality !== 'remote') return { body, restorer: identity };
    const started = (this.options.now ?? performance.now.bind(performance))();
    const alias = (ctx as { model?: unknown }).model;
    const modes = this.policies.modes(ctx.keyName, typeof alias === 'string' ? alias : (body as { model?: string }).model);
    let state = this.states.get(ctx);
    if (!state) {
      state = { redactor: new Redactor(this.secret), findings: new Map(), audited: new Set() };
      this.states.set(ctx, state);
    }
    const found: Partial<Record<EntityType, number>> = {};
    const audit = (outcome: PrivacyAudit['outcome']) => {
      if (state.audited.has(target.backend)) return;
      state.audited.add(target.backend);
      const actions: Partial<Record<EntityType, Mode>> = {};
      for (const type of Object.keys(found) as EntityType[]) actions[type] = modes[type];
      const scanMs = Math.round(((this.options.now ?? performance.now.bind(performance))() - started) * 1000) / 1000;
      try {
        this.options.onAudit?.({ requestId: ctx.requestId, keyName: ctx.keyName ?? null, endpoint, backend: target.backend, outcome, found, actions, scanMs });
      } catch {
        // an audit sink must never decide a request
      }
    };

    let slots: TextSlot[];
    let perText: Finding[][];
    try {
      slots = textSlots(endpoint, body);
      let total = 0;
      for (const s of slots) total += s.get().length;
      const deadline = started + this.budgetFor(total);
      perText = slots.map((slot) => {
        const text = slot.get();
        let f = state.findings.get(text);
        if (!f) {
          const now = (this.options.now ?? performance.now.bind(performance))();
          f = scan(text, { ...this.scanOptions, budgetMs: Math.max(0, deadline - now) });
          state.findings.set(text, f);
        }
        return f;
      });
    } catch (err) {
      audit('failed');
      throw guardFailed(err);
    }

    for (const list of perText) for (const f of list) found[f.type] = (found[f.type] ?? 0) + 1;
    const types = Object.keys(found).sort() as EntityType[];
    if (types.length > 0) ctx.piiTypes = types;
    const blocked = types.filter((t) => modes[t] === 'block');
    if (blocked.length > 0) {
      audit('blocked');
      throw gatewayError(
        'pii_blocked',
        `This request contains data of type ${blocked.join(', ')}, which policy keeps on this machine, and no local backend could serve it. The values were not sent anywhere.`,
      );
    }
    if (types.length === 0 || types.every((t) => modes[t] === 'allow')) {
      audit('sent');
      return { body, restorer: identity };
    }
    let out: any = body;
    const modeOf = (t: EntityType) => modes[t];
    // every value of the request is known before the first fake is chosen: no fake may equal one
    slots.forEach((slot, i) => state.redactor.reserve(slot.get(), perText[i]!));
    slots.forEach((slot, i) => {
      const findings = perText[i]!;
      if (findings.length === 0) return;
      const text = slot.get();
      const redacted = state.redactor.apply(text, findings, modeOf);
      if (redacted !== text) out = slot.set(out, redacted);
    });
    audit('protected');
    return { body: out as T, restorer: new MapRestorer(state.redactor.reverse) };
  }
}

function guardFailed(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const detail = err instanceof ScanFailure ? err.message : 'the privacy scan failed';
  // ScanFailure messages name only the detector, never the text; other errors are not quoted
  return gatewayError('privacy_guard_failed', `The privacy guard could not check this request (${detail}), so it was not sent to the remote backend. Retry, or use a local model.`, {
    cause: err instanceof ScanFailure ? err : undefined,
  });
}

function cannotInspect(what: string): GatewayError {
  return gatewayError('privacy_guard_failed', `The privacy guard cannot inspect ${what}, so the request was not sent to a remote backend. Send text, or use a local model.`);
}

// ------------------------------------------------------------------ texts that leave

/** Copy-on-write setter along a path of object keys / array indices. */
function setPath(root: any, path: ReadonlyArray<string | number>, value: string): any {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const copy = Array.isArray(root) ? root.slice() : { ...root };
  copy[head as any] = setPath(root[head as any], rest, value);
  return copy;
}

function slot(root: any, path: Array<string | number>): TextSlot {
  const get = () => path.reduce((o, k) => o[k as any], root) as string;
  return { get, set: (r, v) => setPath(r, path, v) };
}

/** Every text field of a request body that reaches the backend. */
export function textSlots(endpoint: Endpoint, body: any): TextSlot[] {
  const out: TextSlot[] = [];
  if (typeof body.user === 'string') out.push(slot(body, ['user']));
  if (endpoint === 'chat.completions') {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    messages.forEach((m: any, i: number) => {
      if (typeof m?.content === 'string') out.push(slot(body, ['messages', i, 'content']));
      else if (Array.isArray(m?.content)) {
        m.content.forEach((part: any, j: number) => {
          if (typeof part?.text === 'string') out.push(slot(body, ['messages', i, 'content', j, 'text']));
          else if (part?.type === 'input_audio' || part?.type === 'file') throw cannotInspect(`a '${part.type}' content part`);
        });
      }
      if (Array.isArray(m?.tool_calls)) {
        m.tool_calls.forEach((call: any, k: number) => {
          if (typeof call?.function?.arguments === 'string') out.push(slot(body, ['messages', i, 'tool_calls', k, 'function', 'arguments']));
        });
      }
      if (typeof m?.function_call?.arguments === 'string') out.push(slot(body, ['messages', i, 'function_call', 'arguments']));
    });
  } else if (endpoint === 'completions') {
    if (typeof body.prompt === 'string') out.push(slot(body, ['prompt']));
    else if (Array.isArray(body.prompt)) {
      body.prompt.forEach((p: unknown, i: number) => {
        if (typeof p === 'string') out.push(slot(body, ['prompt', i]));
        else throw cannotInspect('token-id prompts');
      });
    }
  } else if (endpoint === 'embeddings') {
    if (typeof body.input === 'string') out.push(slot(body, ['input']));
    else if (Array.isArray(body.input)) {
      body.input.forEach((x: unknown, i: number) => {
        if (typeof x === 'string') out.push(slot(body, ['input', i]));
        else throw cannotInspect('token-id embedding input');
      });
    }
  } else {
    throw cannotInspect(`requests to '${String(endpoint)}'`);
  }
  return out;
}

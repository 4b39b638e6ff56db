/**
 * The task APIs behind one interface, shared by the HTTP routes and the in-process batch runner:
 * parse the body, run the task with a TaskRun (every model call through the dispatcher), and
 * answer with the result plus the run's route, tokens and cost.
 */
import type { CallContext } from '../backends/types.js';
import type { Dispatcher } from '../gateway/dispatcher.js';
import { errors } from '../errors.js';
import { parseBody } from '../server/errors.js';
import { classifyWithClassifier, classifyZeroShot, type Classification, type ClassifierRegistry } from './classify.js';
import { clusterTexts } from './clustering.js';
import { extract } from './extract.js';
import { classifyRequest, clusterRequest, extractRequest, summarizeRequest } from './requests.js';
import type { TaskSettings } from './settings.js';
import { mapLimit } from './chunk.js';
import { DEFAULT_MAX_WORDS, summarize } from './summarize.js';
import { TaskPricing, TaskRun, type TaskRunOptions } from './task-run.js';

export const TASK_NAMES = ['summarize', 'extract', 'classify', 'cluster'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export function isTaskName(value: string): value is TaskName {
  return (TASK_NAMES as readonly string[]).includes(value);
}

export interface TaskUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Model calls the task made. */
  model_calls: number;
  /** Cloud spend in USD (local calls cost none). */
  cost_usd: number;
  /** Estimated cost of the same work on the baseline cloud model. */
  baseline_cost_usd: number;
}

export interface TaskResponse {
  id: string;
  object: `task.${TaskName}`;
  /** Model of the last call that answered (null: no model was needed). */
  model: string | null;
  route: 'local' | 'cloud' | 'none';
  usage: TaskUsage;
  [result: string]: unknown;
}

export interface TaskServiceOptions {
  dispatcher: Dispatcher;
  settings: TaskSettings;
  classifiers?: ClassifierRegistry;
}

const LEXICAL = 'lexical';

export class TaskService {
  readonly pricing: TaskPricing;
  readonly settings: TaskSettings;
  private readonly dispatcher: Dispatcher;
  private readonly classifiers: ClassifierRegistry | undefined;

  constructor(options: TaskServiceOptions) {
    this.dispatcher = options.dispatcher;
    this.settings = options.settings;
    this.classifiers = options.classifiers;
    this.pricing = new TaskPricing(options.settings.baselineModel, options.settings.prices);
  }

  newRun(ctx: CallContext, options: TaskRunOptions = {}): TaskRun {
    return new TaskRun(this.dispatcher, this.pricing, ctx, options);
  }

  private modelFor(requested: string | undefined): string {
    const model = requested ?? this.settings.model;
    if (!model) throw errors.badRequest("No model is configured for tasks: set 'model' in the request or tasks.model in the configuration.", 'model', 'invalid_request_body');
    return model;
  }

  /** Runs a task on a raw (unvalidated) body; throws GatewayErrors (400 for a bad body). */
  async run(task: TaskName, body: unknown, run: TaskRun): Promise<TaskResponse> {
    const result = await this.execute(task, body, run);
    return {
      id: run.requestId,
      object: `task.${task}`,
      model: run.lastModel,
      route: run.route,
      ...result,
      usage: {
        prompt_tokens: run.promptTokens,
        completion_tokens: run.completionTokens,
        total_tokens: run.promptTokens + run.completionTokens,
        model_calls: run.calls.length,
        cost_usd: roundUsd(run.costUsd),
        baseline_cost_usd: roundUsd(run.baselineUsd),
      },
    };
  }

  private async execute(task: TaskName, body: unknown, run: TaskRun): Promise<Record<string, unknown>> {
    const s = this.settings;
    switch (task) {
      case 'summarize': {
        const req = parseBody(summarizeRequest, body);
        if (req.local_only) run.forbidRemote('the request asked for local_only');
        const texts = req.texts ?? [req.text!];
        const r = await summarize(run, texts, {
          model: this.modelFor(req.model),
          style: req.style,
          maxWords: req.max_words ?? DEFAULT_MAX_WORDS[req.style],
          chunkTokens: s.chunkTokens,
          concurrency: s.concurrency,
        });
        return { summary: r.summary, style: r.style, chunks: r.chunks };
      }
      case 'extract': {
        const req = parseBody(extractRequest, body);
        if (req.local_only) run.forbidRemote('the request asked for local_only');
        const model = this.modelFor(req.model);
        const r = await extract(run, req.text, req.schema, {
          model,
          escalationModel: req.local_only || s.escalationModel === model ? null : s.escalationModel,
          localAttempts: s.localAttempts,
          escalationAttempts: s.escalationAttempts,
          maxTokens: req.max_tokens,
        });
        return { data: r.data, valid: true, attempts: r.attempts, escalated: r.escalated };
      }
      case 'classify': {
        const req = parseBody(classifyRequest, body);
        if (req.local_only) run.forbidRemote('the request asked for local_only');
        const texts = req.texts ?? [req.text!];
        const zeroShot = (text: string, labels: readonly string[]) => classifyZeroShot(run, text, labels, { model: this.modelFor(req.model), samples: s.classifySamples, concurrency: s.concurrency });
        const one = (text: string): Promise<Classification> =>
          req.classifier !== undefined ? classifyWithClassifier(this.classifiers, req.classifier, text, (labels) => zeroShot(text, labels)) : zeroShot(text, req.labels!);
        // A single text may use the concurrency for votes; many texts use it across texts.
        const results = await mapLimit(texts, texts.length === 1 ? 1 : s.concurrency, one);
        if (req.texts === undefined) return { ...results[0]!, classifier: req.classifier ?? null };
        return { results, classifier: req.classifier ?? null };
      }
      case 'cluster': {
        const req = parseBody(clusterRequest, body);
        if (req.local_only) run.forbidRemote('the request asked for local_only');
        const requested = req.embedding_model ?? s.embeddingModel ?? null;
        const r = await clusterTexts(run, req.texts, {
          k: req.k,
          embeddingModel: requested === LEXICAL ? null : requested,
          titleModel: req.titles ? this.modelFor(req.model) : null,
          concurrency: s.concurrency,
        });
        return { ...r };
      }
    }
  }
}

function roundUsd(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

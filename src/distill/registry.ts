/**
 * Serving hook for trained student classifiers: names map to model files, either listed in config
 * (`distill.classifiers: {name: path}`) or found as `<classifiersDir>/<name>.json` (default
 * `<dataDir>/classifiers`). Files load on first use and are reloaded when they change on disk, so a
 * retrained student replaces the old one without a restart.
 *
 *   registry.classify('support-intents', text) -> { label, score, abstained }
 *
 * `abstained: true` means the calibrated probability of `label` is below the threshold: the caller
 * should escalate to the teacher (and capture its answer, so the next training round learns it).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gatewayError } from '../errors.js';
import type { DistillConfig } from './config.js';
import { StudentClassifier } from './student.js';

export interface StudentDecision {
  /** The most likely label (also when abstaining: it is what the student would have said). */
  label: string;
  /** Calibrated probability of `label`. */
  score: number;
  abstained: boolean;
}

export interface StudentRegistryOptions {
  /** Folder searched for `<name>.json`. */
  dir?: string;
  /** Explicit name -> file; wins over the folder. */
  classifiers?: Record<string, string>;
  /** Default threshold for `classify`. */
  abstainBelow?: number;
  /** Minimum time between checks of a file's modification time (ms). */
  recheckMs?: number;
}

interface Loaded {
  path: string;
  mtimeMs: number;
  checkedAt: number;
  model: StudentClassifier;
}

const NAME = /^[A-Za-z0-9._-]+$/;

export class StudentRegistry {
  readonly dir: string | undefined;
  readonly abstainBelow: number;
  private readonly files: Map<string, string>;
  private readonly loaded = new Map<string, Loaded>();
  private readonly recheckMs: number;

  constructor(options: StudentRegistryOptions = {}) {
    this.dir = options.dir === undefined ? undefined : resolve(options.dir);
    this.files = new Map(Object.entries(options.classifiers ?? {}).map(([n, p]) => [n, resolve(p)]));
    this.abstainBelow = options.abstainBelow ?? 0.5;
    this.recheckMs = options.recheckMs ?? 2_000;
  }

  /** From the loaded configuration: `distill.classifiers`, `distill.classifiersDir` or `<dataDir>/classifiers`. */
  static fromConfig(config: { dataDir: string; distill: DistillConfig }): StudentRegistry {
    return new StudentRegistry({
      dir: config.distill.classifiersDir ?? join(config.dataDir, 'classifiers'),
      classifiers: config.distill.classifiers,
      abstainBelow: config.distill.abstainBelow,
    });
  }

  /** Names that can be served: configured ones and `*.json` files in the folder. */
  names(): string[] {
    const names = new Set(this.files.keys());
    if (this.dir) {
      try {
        for (const f of readdirSync(this.dir)) if (f.endsWith('.json') && NAME.test(f.slice(0, -5))) names.add(f.slice(0, -5));
      } catch {
        // No folder yet: nothing trained.
      }
    }
    return [...names].sort();
  }

  private pathOf(name: string): string | undefined {
    const configured = this.files.get(name);
    if (configured) return configured;
    // The name becomes part of a path: only plain names, never "../x".
    if (!this.dir || !NAME.test(name) || name.startsWith('.')) return undefined;
    return join(this.dir, `${name}.json`);
  }

  /** The loaded classifier; throws GatewayError classifier_not_found / classifier_unavailable. */
  get(name: string): StudentClassifier {
    const now = Date.now();
    const cached = this.loaded.get(name);
    if (cached && now - cached.checkedAt < this.recheckMs) return cached.model;
    const path = this.pathOf(name);
    let mtimeMs: number;
    try {
      if (!path) throw new Error('bad name');
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      this.loaded.delete(name);
      throw gatewayError('classifier_not_found', `no trained classifier "${name}"${this.dir ? ` (looked for ${path ?? join(this.dir, '<name>.json')})` : ''}; train one with \`sluice distill classify\``, { param: 'classifier' });
    }
    if (cached && cached.path === path && cached.mtimeMs === mtimeMs) {
      cached.checkedAt = now;
      return cached.model;
    }
    let model: StudentClassifier;
    try {
      model = StudentClassifier.fromJSON(readFileSync(path, 'utf8'));
      // Serving has no embedder wired yet: a student that needs one is refused with a clear reason.
      if (model.embedding) throw new Error(`it uses embedding features (${model.embedding.source}), which serving does not support yet; train it without --embed-model`);
    } catch (err) {
      // A file being rewritten may be caught half-written: keep serving the previous model if any.
      if (cached) return cached.model;
      throw gatewayError('classifier_unavailable', `classifier "${name}" (${path}) cannot be loaded: ${(err as Error).message}`, { param: 'classifier', cause: err });
    }
    this.loaded.set(name, { path, mtimeMs, checkedAt: now, model });
    return model;
  }

  has(name: string): boolean {
    const path = this.pathOf(name);
    if (!path) return false;
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  }

  /** Labels of a classifier (for validating requests or listing). */
  labels(name: string): readonly string[] {
    return this.get(name).labels;
  }

  classify(name: string, text: string, abstainBelow = this.abstainBelow): StudentDecision {
    const d = this.get(name).classify(text, abstainBelow);
    return { label: d.label, score: d.score, abstained: d.abstained };
  }
}

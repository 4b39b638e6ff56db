/**
 * The `distill` block of sluice.config: where served student classifiers live, the default
 * abstain threshold, and what cloud answers are captured for the next training round.
 */
import { z } from 'zod';

const probability = z.number({ error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const classifierName = z.string().regex(/^[A-Za-z0-9._-]+$/, 'must use only letters, digits, ".", "_" and "-"');

export const captureSchema = z
  .strictObject({
    /** Store cloud-answered requests (privacy-guarded prompt and answer) for distillation. */
    enabled: z.boolean().default(false),
    /** Share of matching requests stored (0-1). */
    sampleRate: probability.default(1),
    /** Captures older than this are deleted; unset keeps them. */
    retentionDays: z.number({ error: 'must be a number' }).positive('must be greater than 0').optional(),
    /** Only these public model names/aliases (empty: all). */
    models: z.array(z.string().min(1)).default([]),
    /** Only these tasks, e.g. "chat", "classify", "extract" (empty: all). */
    tasks: z.array(z.string().min(1)).default([]),
    /** Only requests made with these API key names (empty: all). */
    keys: z.array(z.string().min(1)).default([]),
  })
  .default({ enabled: false, sampleRate: 1, models: [], tasks: [], keys: [] });

export const distillSchema = z
  .strictObject({
    /** Folder of student classifier files served by name: `<classifiersDir>/<name>.json`; default `<dataDir>/classifiers`. */
    classifiersDir: z.string().min(1).optional(),
    /** Classifier name -> model file; wins over a file of the same name in classifiersDir. */
    classifiers: z.record(classifierName, z.string().min(1)).default({}),
    /** A served student abstains (and the teacher answers) below this calibrated probability. */
    abstainBelow: probability.default(0.5),
    capture: captureSchema,
  })
  .default({ classifiers: {}, abstainBelow: 0.5, capture: { enabled: false, sampleRate: 1, models: [], tasks: [], keys: [] } });

export type DistillConfig = z.output<typeof distillSchema>;
export type CaptureConfig = z.output<typeof captureSchema>;

/**
 * Paths to the small GGUF models tests run on. They live in `shared/models` beside the repository
 * (CI clones the repo next to `shared/`), so they are found relative to this file, not the cwd.
 */
import { fileURLToPath } from 'node:url';

const sharedModels = fileURLToPath(new URL('../../../shared/models/', import.meta.url));

/** Tiny llama trained on TinyStories: 260K parameters, no chat template, 64-dim embeddings. */
export const STORIES_260K = sharedModels + 'stories260K.gguf';
/** Random weights with a real Llama 2 tokenizer: output is gibberish, plumbing is real. */
export const LLAMA_TINY_RANDOM = sharedModels + 'llama-2-tiny-random.gguf';

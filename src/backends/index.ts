/** Builds a backend from its config. The local backend is imported only when configured: loading llama.cpp costs start-up time. */
import type { Logger } from 'pino';
import type { BackendConfig } from '../config/schema.js';
import type { Backend } from './types.js';
import { OpenAICompatibleBackend } from './openai-compatible/index.js';
import { PoolBackend } from './pool.js';

export interface BackendDeps {
  logger: Logger;
  modelsDir: string;
  hfEndpoint?: string;
  /** Never download models (air-gapped hosts): only files and the cache are used. */
  offline?: boolean;
}

export async function createBackend(config: BackendConfig, deps: BackendDeps): Promise<Backend> {
  const logger = deps.logger.child({ backend: config.name });
  switch (config.kind) {
    case 'openai-compatible':
      return new OpenAICompatibleBackend(config, { logger });
    case 'pool':
      return new PoolBackend(config, { logger });
    case 'local': {
      const { LocalLlamaBackend } = await import('./local-llama.js');
      return new LocalLlamaBackend(config, { logger, modelsDir: deps.modelsDir, hfEndpoint: deps.hfEndpoint, offline: deps.offline });
    }
  }
}

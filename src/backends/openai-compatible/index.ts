/** The `openai-compatible` backend: any server speaking the OpenAI HTTP API. */
export { OpenAICompatibleBackend, type OpenAICompatibleDeps, type UpstreamConnectionConfig } from './backend.js';

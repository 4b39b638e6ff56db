/**
 * Chat history -> prompt tokens. Rendering to tokens here (instead of using LlamaChat) keeps
 * `prompt_tokens` exact and lets one LlamaCompletion per sequence serve chat and text alike.
 *
 * Models that ship a `tokenizer.chat_template` get node-llama-cpp's matching chat wrapper; base
 * models without one (stories260K, most raw checkpoints) get a plain "System:/User:/Assistant:"
 * transcript with stop triggers on the next turn, so chat still produces a sensible reply.
 */
import { LlamaText, resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from 'node-llama-cpp';
import type { ChatMessage } from '../../api/schemas.js';
import { errors } from '../../errors.js';

export type StopTrigger = string | LlamaText;

export interface RenderedPrompt {
  /** Prompt tokens without the BOS token that LlamaCompletion prepends by itself. */
  tokens: Token[];
  /** Turn-ending triggers of the template (added to the request's own `stop`). */
  stopTriggers: StopTrigger[];
  /** The plain template puts no space after "Assistant:", so the reply's leading space is dropped. */
  trimStart: boolean;
}

const PLAIN_STOPS: StopTrigger[] = ['\nUser:', '\nSystem:'];

export class ChatRenderer {
  readonly wrapper: ChatWrapper | null;
  /** The token llama.cpp prepends to every prompt, if this model has one. */
  readonly bos: Token | null;

  constructor(
    private readonly model: LlamaModel,
    wrapper?: ChatWrapper | null,
  ) {
    this.bos = beginningToken(model);
    if (wrapper !== undefined) this.wrapper = wrapper;
    else this.wrapper = hasChatTemplate(model) ? resolveChatWrapper(model) : null;
  }

  get name(): string {
    return this.wrapper?.wrapperName ?? 'plain';
  }

  render(messages: readonly ChatMessage[]): RenderedPrompt {
    return this.wrapper ? this.renderWithWrapper(this.wrapper, messages) : this.renderPlain(messages);
  }

  private renderWithWrapper(wrapper: ChatWrapper, messages: readonly ChatMessage[]): RenderedPrompt {
    const history: ChatHistoryItem[] = [];
    for (const m of messages) {
      const text = messageText(m);
      switch (m.role) {
        case 'system':
        case 'developer':
          history.push({ type: 'system', text });
          break;
        case 'assistant':
          history.push({ type: 'model', response: [text] });
          break;
        case 'user':
          history.push({ type: 'user', text });
          break;
        default:
          // Tool results go back as user turns: the request carries no tool definitions the
          // template could render, and the model still sees what the tool returned.
          history.push({ type: 'user', text: toolText(m, text) });
      }
    }
    // A trailing assistant message stays open, so the model continues it (prefill).
    if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
    const state = wrapper.generateContextState({ chatHistory: history });
    const tokens = state.contextText.tokenize(this.model.tokenizer);
    if (this.bos !== null && tokens[0] === this.bos) tokens.shift();
    return { tokens, stopTriggers: state.stopGenerationTriggers, trimStart: false };
  }

  private renderPlain(messages: readonly ChatMessage[]): RenderedPrompt {
    let text = '';
    for (const m of messages) {
      const content = messageText(m);
      switch (m.role) {
        case 'system':
        case 'developer':
          text += `System: ${content}\n`;
          break;
        case 'assistant':
          text += `Assistant: ${content}\n`;
          break;
        case 'user':
          text += `User: ${content}\n`;
          break;
        default:
          text += `User: ${toolText(m, content)}\n`;
      }
    }
    const last = messages.at(-1);
    // Continue a trailing assistant message instead of opening a new turn (prefill).
    if (last?.role === 'assistant') text = text.slice(0, -1);
    else text += 'Assistant:';
    return { tokens: this.model.tokenize(text), stopTriggers: PLAIN_STOPS, trimStart: last?.role !== 'assistant' };
  }
}

export function hasChatTemplate(model: LlamaModel): boolean {
  const template = (model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } } | undefined)?.tokenizer?.chat_template;
  return typeof template === 'string' && template.trim() !== '';
}

/**
 * The token LlamaCompletion puts in front of every input (mirrors its internal
 * `resolveBeginningTokenToPrepend`), counted in `prompt_tokens`.
 */
export function beginningToken(model: LlamaModel): Token | null {
  const vocab = String(model.vocabularyType);
  if (vocab === 'rwkv' || vocab === 'ugm') return null;
  if (vocab === 'wpm') return model.tokens.bos;
  return model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
}

function messageText(m: ChatMessage): string {
  const content = m.content;
  if (content == null) return '';
  if (typeof content === 'string') return content;
  const parts: string[] = [];
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') parts.push(part.text);
    else throw errors.badRequest(`Content parts of type '${part.type}' are not supported by the local model; send text only.`, 'messages', 'unsupported_content');
  }
  return parts.join('\n');
}

function toolText(m: ChatMessage, text: string): string {
  return m.name ? `[${m.role} ${m.name}] ${text}` : `[${m.role}] ${text}`;
}

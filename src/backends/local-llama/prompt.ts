/**
 * Chat history -> prompt. Rendering here (instead of using LlamaChat) keeps `prompt_tokens`
 * exact and lets one generation loop serve chat, tools and text completions alike.
 *
 * Models that ship a `tokenizer.chat_template` are rendered by that template (node-llama-cpp's
 * Jinja chat wrapper), which also says how the model writes function calls: tools are documented in the system turn,
 * assistant `tool_calls` and `tool` results render back in the model's own call syntax. Base
 * models without a template (stories260K, most raw checkpoints) get a plain
 * "System:/User:/Assistant:" transcript with stops on the next turn, so chat still produces a
 * sensible reply; that template cannot express tools.
 */
import {
  LlamaText,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelFunctions,
  type ChatModelResponse,
  type ChatWrapper,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type { ChatMessage } from '../../api/schemas.js';
import { errors } from '../../errors.js';

export type StopTrigger = string | LlamaText;

export interface RenderedPrompt {
  /** A chat template's prompt (with special tokens), or the plain template's text. */
  prompt: LlamaText | string;
  /** Turn-ending triggers of the template (added to the request's own `stop`). */
  stopTriggers: StopTrigger[];
  /** The plain template puts no space after "Assistant:", so the reply's leading space is dropped. */
  trimStart: boolean;
  /** Characters of message content: a cheap lower bound on the prompt's size. */
  contentChars: number;
}

const PLAIN_STOPS: StopTrigger[] = ['\nUser:', '\nSystem:'];

export class ChatRenderer {
  readonly wrapper: ChatWrapper | null;
  /** The token put in front of every prompt, if this model has one. */
  readonly bos: Token | null;

  constructor(
    private readonly model: LlamaModel,
    wrapper?: ChatWrapper | null,
  ) {
    this.bos = beginningToken(model);
    if (wrapper !== undefined) this.wrapper = wrapper;
    // The model's own template (node-llama-cpp's Jinja wrapper: the same prompt the template
    // renders, default system prompt included, and the template's tool-call syntax when it has
    // one); a template it cannot run falls back to the closest built-in wrapper.
    else this.wrapper = hasChatTemplate(model) ? resolveChatWrapper(model, { type: 'jinjaTemplate', warningLogs: false }) : null;
  }

  get name(): string {
    return this.wrapper?.wrapperName ?? 'plain';
  }

  /** Whether the template has a syntax for function calls (the plain template has none). */
  get supportsTools(): boolean {
    const call = this.wrapper?.settings.functions.call;
    return call !== undefined && LlamaText(call.prefix).values.length > 0;
  }

  /** `functions`: tools to document in the prompt (the caller checked `supportsTools`). */
  render(messages: readonly ChatMessage[], functions?: ChatModelFunctions): RenderedPrompt {
    return this.wrapper ? this.renderWithWrapper(this.wrapper, messages, functions) : this.renderPlain(messages);
  }

  private renderWithWrapper(wrapper: ChatWrapper, messages: readonly ChatMessage[], functions: ChatModelFunctions | undefined): RenderedPrompt {
    const history: ChatHistoryItem[] = [];
    // Calls made by assistant messages, by id, until a `tool` message brings their result.
    const calls = new Map<string, ChatModelFunctionCall>();
    let contentChars = 0;
    for (const m of messages) {
      const text = messageText(m);
      contentChars += text.length;
      switch (m.role) {
        case 'system':
        case 'developer':
          history.push({ type: 'system', text });
          break;
        case 'assistant': {
          const response: ChatModelResponse['response'] = text ? [text] : [];
          for (const tc of m.tool_calls ?? []) {
            contentChars += tc.function.arguments.length;
            const call: ChatModelFunctionCall = { type: 'functionCall', name: tc.function.name, params: parseArguments(tc.function.arguments), result: undefined };
            calls.set(tc.id, call);
            response.push(call);
          }
          // After tool results the model's turn goes on: its next words belong to the same turn.
          const last = history.at(-1);
          if (last?.type === 'model' && last.response.at(-1) instanceof Object) last.response.push(...response);
          else history.push({ type: 'model', response });
          break;
        }
        case 'user':
          history.push({ type: 'user', text });
          break;
        default: {
          const call = m.tool_call_id !== undefined ? calls.get(m.tool_call_id) : undefined;
          if (call) {
            call.result = parseResult(text);
            calls.delete(m.tool_call_id!);
          } else {
            // A result without its call (or a legacy `function` message): the model still sees it.
            history.push({ type: 'user', text: toolText(m, text) });
          }
        }
      }
    }
    // A trailing assistant turn stays open, so the model continues it (prefill, or the answer
    // after tool results); otherwise a new assistant turn is opened.
    if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
    const state = wrapper.generateContextState({ chatHistory: history, availableFunctions: functions, documentFunctionParams: functions ? true : undefined });
    return { prompt: state.contextText, stopTriggers: state.stopGenerationTriggers, trimStart: false, contentChars };
  }

  private renderPlain(messages: readonly ChatMessage[]): RenderedPrompt {
    let text = '';
    let contentChars = 0;
    for (const m of messages) {
      let content = messageText(m);
      contentChars += content.length;
      switch (m.role) {
        case 'system':
        case 'developer':
          text += `System: ${content}\n`;
          break;
        case 'assistant':
          for (const tc of m.tool_calls ?? []) content += `${content ? ' ' : ''}[call ${tc.function.name}(${tc.function.arguments})]`;
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
    return { prompt: text, stopTriggers: PLAIN_STOPS, trimStart: last?.role !== 'assistant', contentChars };
  }
}

export function hasChatTemplate(model: LlamaModel): boolean {
  const template = (model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } } | undefined)?.tokenizer?.chat_template;
  return typeof template === 'string' && template.trim() !== '';
}

/**
 * The token put in front of every input (mirrors LlamaCompletion's internal
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

/** A call's arguments as the template renders them: JSON when they parse (they should), else the raw text. */
function parseArguments(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Tool results are strings; JSON ones render as the data they hold, others as text. */
function parseResult(text: string): unknown {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      // not JSON after all: the text itself
    }
  }
  return text;
}

/**
 * OpenAI `tools` / `tool_choice` on the local model: which functions the prompt documents, whether
 * the answer must be a call, and the model's own call syntax (from its chat wrapper), which
 * generation uses to notice a call starting and to write one out under grammars:
 *   <prefix><name><paramsPrefix><arguments JSON><suffix>    e.g. `||call: get_weather({"city":"Oslo"})`
 * The name is constrained to the allowed functions, the arguments to the function's `parameters`
 * schema, so arguments are always JSON that fits the schema.
 */
import { compileSchema, type Validator } from '../../util/json-schema.js';
import { LlamaText, SpecialTokensText, type ChatModelFunctions, type LlamaModel, type Token } from 'node-llama-cpp';
import type { ChatCompletionRequest, ChatTool } from '../../api/schemas.js';
import { gatewayError } from '../../errors.js';
import type { ChatRenderer } from './prompt.js';

export interface ToolFunction {
  name: string;
  description: string | undefined;
  parameters: Record<string, unknown>;
}

/** How the model starts a call: a special token (e.g. `<tool_call>`), or a text. */
export type CallTrigger = { token: Token; text?: undefined } | { text: string; token?: undefined };

export interface CallSyntax {
  prefix: LlamaText;
  paramsPrefix: LlamaText;
  suffix: LlamaText;
  trigger: CallTrigger;
}

export interface ToolPlan {
  /** `auto`: the model may answer or call; `required`: it must call (one of `allowed`). */
  mode: 'auto' | 'required';
  allowed: string[];
  functions: ReadonlyMap<string, ToolFunction>;
  syntax: CallSyntax;
}

export interface ToolSetup {
  /** What the prompt documents (undefined: no tools in the prompt). */
  documented: ChatModelFunctions | undefined;
  plan: ToolPlan | null;
}

/** Functions without `parameters` take none: `{}`. */
const NO_PARAMETERS = { type: 'object', properties: {} };

const NONE: ToolSetup = { documented: undefined, plan: null };

export function setupTools(req: ChatCompletionRequest, renderer: ChatRenderer, model: LlamaModel): ToolSetup {
  const tools = req.tools ?? [];
  const choice = req.tool_choice ?? 'auto';
  if (tools.length === 0) {
    if (choice === 'required' || typeof choice === 'object') throw gatewayError('invalid_request_body', "'tool_choice' asks for a tool call, but the request has no 'tools'.", { param: 'tool_choice' });
    return NONE;
  }
  const functions = toolFunctions(tools);
  // The tools are there but may not be used: the answer is text, as without them.
  if (choice === 'none') return NONE;
  if (!renderer.supportsTools) {
    // Retryable on another backend only: a fallback with a tool-capable model can take it.
    throw gatewayError(
      'tools_not_supported',
      `The local model's chat template (${renderer.name}) cannot express tool calls; use a model whose GGUF has a chat template, or send the request to a backend that supports tools.`,
      { param: 'tools', retryable: true, fallbackOnly: true },
    );
  }
  let mode: ToolPlan['mode'] = 'auto';
  let allowed = [...functions.keys()];
  if (choice === 'required') mode = 'required';
  else if (typeof choice === 'object') {
    const name = choice.function?.name;
    if (choice.type !== 'function' || name === undefined) {
      throw gatewayError('unsupported_parameter', `tool_choice of type '${choice.type}' is not supported by the local backend; use 'auto', 'none', 'required' or {type: 'function', function: {name}}.`, {
        param: 'tool_choice',
      });
    }
    if (!functions.has(name)) throw gatewayError('invalid_request_body', `tool_choice names the function '${name}', which is not in 'tools'.`, { param: 'tool_choice' });
    mode = 'required';
    allowed = [name];
  } else if (choice !== 'auto') {
    throw gatewayError('invalid_request_body', `Unknown tool_choice '${String(choice)}'.`, { param: 'tool_choice' });
  }
  const documented: ChatModelFunctions = Object.fromEntries([...functions.values()].map((f) => [f.name, { description: f.description, params: f.parameters as never }]));
  return { documented, plan: { mode, allowed, functions, syntax: callSyntax(renderer, model) } };
}

function toolFunctions(tools: readonly ChatTool[]): Map<string, ToolFunction> {
  const out = new Map<string, ToolFunction>();
  tools.forEach((t, i) => {
    if (t.type !== 'function' || !t.function) {
      throw gatewayError('unsupported_parameter', `tools[${i}] is of type '${t.type}'; the local backend supports function tools only.`, { param: `tools[${i}]` });
    }
    const { name, description, parameters } = t.function;
    if (out.has(name)) throw gatewayError('invalid_request_body', `tools[${i}]: the function name '${name}' is used twice.`, { param: `tools[${i}].function.name` });
    const problem = parameters === undefined ? null : schemaProblem(parameters, 'parameters');
    if (problem) throw gatewayError('invalid_json_schema', `tools[${i}].function.${problem}`, { param: `tools[${i}].function.parameters` });
    out.set(name, { name, description, parameters: parameters ?? NO_PARAMETERS });
  });
  return out;
}

const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

/**
 * The structural mistakes a grammar would not catch (it compiles an unknown type into "anything"):
 * a `type` that is not a JSON type, sub-schemas that are not objects. Returns the problem, or null.
 */
function schemaProblem(schema: unknown, path: string): string | null {
  if (typeof schema === 'boolean') return null;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return `${path} must be a JSON schema object`;
  const s = schema as Record<string, unknown>;
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const bad = types.find((t) => typeof t !== 'string' || !JSON_TYPES.has(t));
    if (bad !== undefined) return `${path}.type: '${String(bad)}' is not a JSON schema type`;
  }
  const children: Array<[unknown, string]> = [];
  for (const key of ['properties', '$defs', 'definitions'] as const) {
    const group = s[key];
    if (group && typeof group === 'object') for (const [k, v] of Object.entries(group)) children.push([v, `${path}.${key}.${k}`]);
  }
  for (const key of ['items', 'additionalProperties', 'not'] as const) if (s[key] !== undefined && typeof s[key] === 'object') children.push([s[key], `${path}.${key}`]);
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const) if (Array.isArray(s[key])) (s[key] as unknown[]).forEach((v, i) => children.push([v, `${path}.${key}[${i}]`]));
  for (const [child, at] of children) {
    const problem = schemaProblem(child, at);
    if (problem) return problem;
  }
  return null;
}

function callSyntax(renderer: ChatRenderer, model: LlamaModel): CallSyntax {
  const call = renderer.wrapper!.settings.functions.call;
  const prefix = LlamaText(call.prefix);
  const first = prefix.values[0];
  let trigger: CallTrigger | undefined;
  if (first instanceof SpecialTokensText) {
    const tokens = model.tokenize(first.value, true);
    if (tokens.length > 0 && model.isSpecialToken(tokens[0])) trigger = { token: tokens[0]! };
  }
  // A text prefix is matched without its surrounding spaces: models write "||call:name" too.
  trigger ??= { text: prefix.toString().trim() };
  return { prefix, paramsPrefix: LlamaText(call.paramsPrefix), suffix: LlamaText(call.suffix), trigger };
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * The grammar enforces types, enums, required structure and lengths; keywords it cannot (a
 * number's `minimum`, a string's `pattern`) are checked here, so a call the schema forbids is
 * never returned as if it were valid. Returns the problem, or null.
 */
export function checkArguments(fn: ToolFunction, args: unknown): string | null {
  let validate: Validator;
  try {
    validate = compileSchema(fn.parameters, 'parameters');
  } catch {
    // A schema ajv cannot compile: the grammar, which did read it, is the check.
    return null;
  }
  return validate(args) ? null : validate.errors();
}

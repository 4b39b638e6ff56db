/**
 * Grammars compiled once and reused: `response_format` JSON schemas and tool parameter schemas
 * are usually the same from one request to the next, and compiling one costs milliseconds.
 * Bounded (oldest out first); a schema that fails to compile is not kept.
 */
import type { Llama, LlamaGrammar, LlamaJsonSchemaGrammar } from 'node-llama-cpp';
import { gatewayError } from '../../errors.js';
import { errorMessage } from '../../util/errors.js';

const MAX_CACHED = 64;

type JsonSchema = Parameters<Llama['createGrammarForJsonSchema']>[0];

export class GrammarCache {
  private readonly cache = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  /** Any JSON value (json_object). */
  json(): Promise<LlamaGrammar> {
    return this.get('json', () => this.llama.getGrammarFor('json'), 'response_format');
  }

  /** Output that follows a JSON schema; `param` names the field for a 400 if it cannot be compiled. */
  jsonSchema(schema: object, param: string): Promise<LlamaJsonSchemaGrammar<JsonSchema>> {
    return this.get(`schema:${JSON.stringify(schema)}`, () => this.llama.createGrammarForJsonSchema(schema as JsonSchema), param) as Promise<
      LlamaJsonSchemaGrammar<JsonSchema>
    >;
  }

  /** Exactly one of `names` (function names: letters, digits, "_" and "-", so nothing to escape). */
  oneOf(names: readonly string[]): Promise<LlamaGrammar> {
    const gbnf = `root ::= ${names.map((n) => JSON.stringify(n)).join(' | ')}`;
    return this.get(`gbnf:${gbnf}`, () => this.llama.createGrammar({ grammar: gbnf }), 'tools');
  }

  private get(key: string, create: () => Promise<LlamaGrammar>, param: string): Promise<LlamaGrammar> {
    let grammar = this.cache.get(key);
    if (grammar) return grammar;
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    grammar = Promise.resolve()
      .then(create)
      .catch((err: unknown) => {
        this.cache.delete(key);
        throw gatewayError('invalid_json_schema', `${param}: the JSON schema cannot be turned into a grammar: ${errorMessage(err)}`, { param });
      });
    this.cache.set(key, grammar);
    return grammar;
  }
}

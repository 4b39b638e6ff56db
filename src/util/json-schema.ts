/**
 * JSON Schema validation (ajv, with the standard string formats) for extraction results and
 * tool-call arguments. JSON Schema's own semantics, not a translation into another validator's:
 * an `integer` is any number without a fractional part, however many digits it has. A schema is
 * compiled once per distinct schema text: batch jobs send the same schema thousands of times.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { gatewayError } from '../errors.js';

// ajv-formats is CommonJS with a default export: the function is on `.default` under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

const ajv = addFormats(new Ajv({ strict: false, allErrors: true, validateFormats: true }));
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 256;

export interface Validator {
  (value: unknown): boolean;
  /** Human-readable reasons for the last failure. */
  errors(): string;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

/** Compiles a schema or throws a 400 `invalid_json_schema` naming `param`. */
export function compileSchema(schema: unknown, param = 'schema'): Validator {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw gatewayError('invalid_json_schema', `'${param}' must be a JSON Schema object.`, { param });
  }
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } catch (err) {
      throw gatewayError('invalid_json_schema', `'${param}' is not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}`, { param });
    }
    if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, validate);
  }
  const fn = validate;
  const v = ((value: unknown) => fn(value)) as Validator;
  v.errors = () => describe(fn.errors);
  return v;
}

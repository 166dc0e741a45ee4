/**
 * MCP tool `inputSchema` (JSON Schema, any draft) → the `parametersJsonSchema` of a Gemini function
 * declaration. `@google/genai` 3.6.1 offers two fields: `parameters` (an OpenAPI 3.0 `Schema` subset:
 * type, format, description, enum of strings, items, properties, required, anyOf, min/max…, nullable,
 * propertyOrdering) and `parametersJsonSchema` (JSON Schema, mutually exclusive with it). The agent's
 * own tools already declare `parametersJsonSchema` on the Live API, so MCP tools do too, restricted to
 * the keywords both fields share plus JSON Schema's own `type` lists and `additionalProperties`:
 *
 * - kept: the {@link KEPT} keywords, converted recursively;
 * - rewritten: local `$ref`s are inlined (`#/$defs/…`, `#/definitions/…`), `oneOf` becomes `anyOf`,
 *   `const` becomes a one-value `enum`, a one-element `allOf` is merged into its parent;
 * - dropped (the server still validates them; reported for a debug line): annotations and
 *   validation-only keywords the model does not need ({@link DROPPED}) and unknown keywords;
 * - refused, so the tool is not offered (with a log line): recursive or non-local `$ref`s, keywords
 *   whose meaning would be lost ({@link REFUSED}), enum values that are objects or arrays, a root
 *   that is not an object schema, nesting deeper than {@link MAX_DEPTH}, more than {@link MAX_NODES}
 *   subschemas.
 */

/** Keywords passed on (after conversion of their subschemas). */
const KEPT = new Set([
  'type',
  'format',
  'title',
  'description',
  'enum',
  'default',
  'example',
  'nullable',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'minProperties',
  'maxProperties',
  'anyOf',
  'propertyOrdering',
]);

/** Keywords left out without changing what a well-meant call looks like. */
const DROPPED = new Set([
  '$schema',
  '$id',
  '$comment',
  '$anchor',
  '$defs',
  'definitions',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  'multipleOf',
  'uniqueItems',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'contentEncoding',
  'contentMediaType',
  'contentSchema',
]);

/** Keywords whose meaning cannot be expressed in a Gemini declaration. */
const REFUSED = new Set([
  'not',
  'if',
  'then',
  'else',
  'patternProperties',
  'dependentSchemas',
  'dependentRequired',
  'dependencies',
  'unevaluatedProperties',
  'unevaluatedItems',
  'prefixItems',
  'additionalItems',
  'contains',
  'minContains',
  'maxContains',
  'propertyNames',
  '$dynamicRef',
  '$recursiveRef',
]);

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

/** Deepest nesting of subschemas accepted (the model handles deep schemas poorly, and it bounds work). */
export const MAX_DEPTH = 16;

/** Most subschemas in one converted schema (inlined `$ref`s can multiply a small schema). */
export const MAX_NODES = 2000;

/** Result of {@link toGeminiParameters}. */
export type SchemaConversion =
  | { ok: true; schema: Record<string, unknown>; dropped: string[] }
  | { ok: false; reason: string };

class Refused extends Error {}

type Json = Record<string, unknown>;

interface Ctx {
  dropped: Set<string>;
  nodes: number;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Converts an MCP tool's input schema; never throws. */
export function toGeminiParameters(input: unknown): SchemaConversion {
  if (!isObject(input)) return { ok: false, reason: 'the input schema is not an object' };
  const ctx: Ctx = { dropped: new Set(), nodes: 0 };
  try {
    const schema = convert(input, input, '#', [], 0, ctx);
    if (schema.type !== 'object') throw new Refused('the input schema is not of type object');
    return { ok: true, schema, dropped: [...ctx.dropped].sort() };
  } catch (err) {
    if (err instanceof Refused) return { ok: false, reason: err.message };
    throw err;
  }
}

function resolveRef(root: Json, ref: string, at: string): Json {
  const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
  if (!m) throw new Refused(`${at}: $ref ${ref} is not a local definition (#/$defs/… or #/definitions/…)`);
  const defs = root[m[1]!];
  const name = decodeURIComponent(m[2]!.replace(/~1/g, '/').replace(/~0/g, '~'));
  const target = isObject(defs) && Object.hasOwn(defs, name) ? defs[name] : undefined;
  if (target === true) return {};
  if (!isObject(target)) throw new Refused(`${at}: $ref ${ref} does not resolve`);
  return target;
}

function convert(node: Json, root: Json, at: string, refs: string[], depth: number, ctx: Ctx): Json {
  if (depth > MAX_DEPTH) throw new Refused(`${at}: nested deeper than ${MAX_DEPTH} levels`);
  if (++ctx.nodes > MAX_NODES) throw new Refused(`more than ${MAX_NODES} subschemas`);
  const { dropped } = ctx;
  const sub = (v: unknown, where: string): Json => {
    if (v === true) return {};
    if (!isObject(v)) throw new Refused(`${where}: not a schema`);
    return convert(v, root, where, refs, depth + 1, ctx);
  };
  let src = node;
  if (typeof src.$ref === 'string') {
    const ref = src.$ref;
    if (refs.includes(ref)) throw new Refused(`${at}: recursive $ref ${ref}`);
    const { $ref: _, ...siblings } = src;
    // Siblings of $ref (a description, a default) describe this use; they win over the definition's.
    const target = resolveRef(root, ref, at);
    return convert({ ...target, ...siblings }, root, at, [...refs, ref], depth, ctx);
  }
  if (Array.isArray(src.allOf)) {
    if (src.allOf.length !== 1) throw new Refused(`${at}: allOf with ${src.allOf.length} schemas`);
    const { allOf, ...rest } = src;
    const only = allOf[0] === true ? {} : allOf[0];
    if (!isObject(only)) throw new Refused(`${at}/allOf/0: not a schema`);
    // The one schema may be a $ref; resolve it through the same path (cycle checks included).
    const inner = convert(only, root, `${at}/allOf/0`, refs, depth + 1, ctx);
    src = { ...inner, ...rest };
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(src)) {
    const where = `${at}/${key}`;
    if (REFUSED.has(key)) throw new Refused(`${where}: ${key} is not supported`);
    if (key === 'oneOf' || key === 'anyOf') {
      if (!Array.isArray(value) || value.length === 0) throw new Refused(`${where}: not a list of schemas`);
      if (key === 'oneOf') dropped.add('oneOf (as anyOf)');
      out.anyOf = value.map((v, i) => sub(v, `${where}/${i}`));
    } else if (key === 'const') {
      out.enum = [checkEnumValue(value, where)];
    } else if (key === 'enum') {
      if (!Array.isArray(value) || value.length === 0) throw new Refused(`${where}: not a list`);
      out.enum = value.map((v) => checkEnumValue(v, where));
    } else if (key === 'type') {
      const types = Array.isArray(value) ? value : [value];
      for (const t of types)
        if (typeof t !== 'string' || !TYPES.has(t)) throw new Refused(`${where}: type ${String(t)}`);
      out.type = value;
    } else if (key === 'properties') {
      if (!isObject(value)) throw new Refused(`${where}: not an object`);
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, v]) => {
          if (v === false) throw new Refused(`${where}/${name}: a property that may never be given`);
          return [name, sub(v, `${where}/${name}`)];
        }),
      );
    } else if (key === 'items') {
      if (Array.isArray(value)) throw new Refused(`${where}: tuple items are not supported`);
      out.items = sub(value, where);
    } else if (key === 'additionalProperties') {
      out.additionalProperties = typeof value === 'boolean' ? value : sub(value, where);
    } else if (KEPT.has(key)) {
      out[key] = value;
    } else {
      dropped.add(DROPPED.has(key) || key.startsWith('x-') ? key : `${key} (unknown)`);
    }
  }
  return out;
}

function checkEnumValue(v: unknown, where: string): unknown {
  if (typeof v === 'object' && v !== null) throw new Refused(`${where}: enum values must be scalars`);
  return v;
}

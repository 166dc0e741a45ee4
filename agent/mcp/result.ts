import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** Longest text of one result passed to the model; the rest is cut with a note (the Live API caps messages). */
export const MAX_RESULT_CHARS = 64 * 1024;

/** A tool's own failure (`isError`), as opposed to the call failing: its text goes to the model. */
export class McpToolError extends Error {
  override name = 'McpToolError';
}

function cut(text: string): string {
  return text.length <= MAX_RESULT_CHARS
    ? text
    : `${text.slice(0, MAX_RESULT_CHARS)}… [cut: ${text.length - MAX_RESULT_CHARS} more characters]`;
}

type Content = CallToolResult['content'][number];

/** One content block as something the model can read; binary data is described, not forwarded. */
function describe(c: Content): unknown {
  switch (c.type) {
    case 'text':
      return cut(c.text);
    case 'image':
    case 'audio':
      return {
        [c.type]: `${c.mimeType}, ${Math.floor((c.data.length * 3) / 4)} bytes, not shown to the model`,
      };
    case 'resource_link':
      return {
        resource: c.uri,
        ...(c.name && { name: c.name }),
        ...(c.description && { description: c.description }),
      };
    case 'resource': {
      const r = c.resource;
      return 'text' in r && typeof r.text === 'string'
        ? { resource: r.uri, text: cut(r.text) }
        : { resource: r.uri, note: 'binary content, not shown to the model' };
    }
    default:
      return { note: `unsupported content type ${(c as { type: string }).type}` };
  }
}

/**
 * A `tools/call` result → the tool's output for the Live API's `{output}` (JSON-able): structured
 * content when the server gave some, else the text (one block) or the described blocks (several).
 * `isError` throws {@link McpToolError} with the text, which the tool runner returns as `{error}`.
 * `redact` removes the server's secrets from anything textual first.
 */
export function mapCallResult(result: CallToolResult, redact: (s: string) => string): unknown {
  const content = Array.isArray(result.content) ? result.content : [];
  if (result.isError) {
    const text = content
      .filter((c): c is Extract<Content, { type: 'text' }> => c.type === 'text')
      .map((c) => c.text)
      .join('\n');
    throw new McpToolError(redact(cut(text || 'the tool failed without a message')));
  }
  if (result.structuredContent && typeof result.structuredContent === 'object') {
    return bounded(redactStrings(result.structuredContent, redact));
  }
  const described = content.map(describe);
  if (described.length === 0) return null;
  return bounded(redactStrings(described.length === 1 ? described[0] : described, redact));
}

/** Largest tool output passed on whole (JSON characters); a larger one goes as its cut text. */
export const MAX_OUTPUT_CHARS = 4 * MAX_RESULT_CHARS;

/**
 * `value` with `redact` applied to every string in it (keys and values), never to its JSON text: a
 * secret that happens to read like `true` or `1000` must not break the structure.
 */
function redactStrings(value: unknown, redact: (s: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redact));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, redact(k), {
        value: redactStrings(v, redact),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  return value;
}

/** The output, or its JSON text cut with a note when a server sent more than the model should get. */
function bounded(out: unknown): unknown {
  const json = JSON.stringify(out) ?? 'null';
  if (json.length <= MAX_OUTPUT_CHARS) return out;
  return `${json.slice(0, MAX_OUTPUT_CHARS)}… [cut: ${json.length - MAX_OUTPUT_CHARS} more characters]`;
}

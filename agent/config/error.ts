import type { z } from 'zod';

/**
 * A configuration problem (environment, room or dispatch metadata), with every issue spelled out for a
 * human and no secret value echoed. The one error type of invalid settings: the worker stops on it
 * (exit 2), a job shows it as `lk.agent.state = failed`.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** One `  - where: what` line per problem. */
export function issueLine(where: string, message: string): string {
  return `  - ${where}: ${message}`;
}

/** A zod issue as an {@link issueLine}, named by its path. */
export function formatIssue(i: z.core.$ZodIssue): string {
  return issueLine(i.path.length ? i.path.join('.') : '(root)', i.message);
}

/**
 * Where a `JSON.parse` error says the text broke, as ` (at character N)`; empty when it does not say.
 * Its message itself may quote the text, which can hold a secret: only the position is passed on.
 */
export function jsonErrorAt(err: unknown): string {
  const at = /position (\d+)/.exec(String(err))?.[1];
  return at === undefined ? '' : ` (at character ${at})`;
}

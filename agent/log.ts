import { pino } from 'pino';

/** The logging surface the agent needs; pino loggers (ours and the agents framework's) satisfy it. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

let root: Logger | undefined;

/** Process-wide logger; level from `AGENT_LOG_LEVEL` (default `info`). */
export function logger(): Logger {
  root ??= pino({ name: 'agent', level: process.env.AGENT_LOG_LEVEL ?? 'info' }) as unknown as Logger;
  return root;
}

/** A logger that drops everything (tests, libraries used without a logger). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

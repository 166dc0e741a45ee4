import { pino } from 'pino';
import { logLevel } from './config/env.ts';

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
  root ??= pino({ name: 'agent', level: logLevel() }) as unknown as Logger;
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

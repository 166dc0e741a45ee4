import { ConfigError, issueLine } from '../error.ts';
import { str } from './parse.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `AGENT_LOG_LEVEL`: the agent's own logger (default `info`); the framework's is `LOG_LEVEL`. */
export function logLevel(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = str(env.AGENT_LOG_LEVEL) ?? 'info';
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new ConfigError(
    `invalid agent log level (environment):\n${issueLine('AGENT_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`)}`,
  );
}

/**
 * Where job processes export traces (OTLP/HTTP), when the standard variables name a collector:
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`;
 * `OTEL_SERVICE_NAME` (default `gemini-agent`). `undefined`: no export.
 */
export function tracingSettings(
  env: NodeJS.ProcessEnv = process.env,
): { url: string; serviceName: string } | undefined {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  return {
    url: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${base}/v1/traces`,
    serviceName: env.OTEL_SERVICE_NAME || 'gemini-agent',
  };
}

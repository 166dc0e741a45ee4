import { telemetry } from '@livekit/agents';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { tracingSettings } from '../config/env.ts';

/**
 * OpenTelemetry traces through the tracer @livekit/agents already has (`telemetry.tracer`): the
 * framework's `job_entrypoint` span (job id, agent name, room) and the agent's own Live session and
 * turn spans (agent/ops/job.ts) are exported over OTLP/HTTP (protobuf) when the standard variables
 * name a collector — `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (plus
 * `OTEL_EXPORTER_OTLP_HEADERS`, read by the exporter). `OTEL_SERVICE_NAME` names the service (default
 * `gemini-agent`). Nothing is exported otherwise, and spans cost nothing. Conversation content stays out
 * of spans unless the framework's `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` allows it.
 */
let provider: NodeTracerProvider | undefined;
let exporter: { forceFlush(): Promise<void> } | undefined;

/**
 * Sets up export in this (job) process if a collector is configured; returns whether it did. The SDK is
 * loaded only then: job processes start on demand and must initialise fast.
 */
export async function setupTracing(settings = tracingSettings()): Promise<boolean> {
  if (provider) return true;
  if (!settings) return false;
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }] =
    await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-proto'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-node'),
    ]);
  const fanout = new telemetry.FanoutSpanProcessor();
  const otlp = new OTLPTraceExporter({ url: settings.url });
  exporter = otlp;
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [new BatchSpanProcessor(otlp), fanout],
  });
  provider.register();
  telemetry.setTracerProvider(provider, { registerSpanProcessor: (p) => fanout.add(p) });
  return true;
}

/**
 * Sends buffered spans and waits until every export in flight has been answered (a job process exits
 * right after its job). The span processor's own flush is not enough: it only sends what is still
 * queued, so a second caller, or one that comes while a periodic batch is on the wire, returns at once
 * and the process can exit with that batch unsent.
 */
export async function flushTracing(): Promise<void> {
  await provider?.forceFlush().catch(() => {});
  await exporter?.forceFlush().catch(() => {});
}

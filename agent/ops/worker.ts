import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OpsSettings } from '../config/env.ts';
import { type Logger, logger as rootLogger } from '../log.ts';
import { clearDrain, publishDrain, removeChannel } from './channel.ts';
import { WorkerMetrics } from './metrics.ts';

/** The part of the @livekit/agents `AgentServer` the load function is given that we read. */
export interface WorkerView {
  id: string;
  activeJobs: readonly unknown[];
}

/** Options of {@link startWorkerOps}. */
export interface WorkerOpsOptions {
  settings: OpsSettings;
  /** The worker's load directory (ops/channel.ts: session counts, job snapshots, drain notice). */
  loadDir: string;
  /** Delete the load directory when the process exits (it made the directory itself). */
  removeLoadDir?: boolean;
  /** `AGENT_LOAD_THRESHOLD`. */
  loadThreshold: number;
  agentName: string;
  logger?: Logger;
}

/** Worker-process operations: metrics/health server, load observation, drain notice. */
export interface WorkerOps {
  readonly metrics: WorkerMetrics;
  /** Wraps the load function: every report is recorded for `/metrics` and `/healthz`. */
  observeLoad(f: () => Promise<number>): (worker: WorkerView) => Promise<number>;
  /** Resolves with the bound port (undefined when the server is off). */
  readonly listening: Promise<number | undefined>;
  aclose(): Promise<void>;
}

/**
 * Starts the worker's operations side: the metrics server (`AGENT_METRICS_PORT`), and a SIGTERM listener
 * that publishes the drain notice next to the framework's own drain (the CLI's listener does the rest).
 * A second SIGTERM gets Node's default handling: immediate exit.
 */
export function startWorkerOps(o: WorkerOpsOptions): WorkerOps {
  const log = (o.logger ?? rootLogger()).child({ component: 'ops' });
  // A notice left by an earlier worker that shared this directory would drain this one at once.
  clearDrain(o.loadDir);
  const metrics = new WorkerMetrics(o.loadDir, { threshold: o.loadThreshold });

  const onSigterm = () => {
    const notice = publishDrain(o.loadDir, {
      timeoutMs: o.settings.drainTimeoutMs,
      wrapUpMs: o.settings.wrapUpMs,
    });
    metrics.startDrain();
    log.info(
      {
        deadline: new Date(notice.deadline).toISOString(),
        wrapUpAt: new Date(notice.wrapUpAt).toISOString(),
      },
      'SIGTERM: draining (no new jobs; conversations end at a turn boundary by the deadline)',
    );
  };
  process.once('SIGTERM', onSigterm);
  const onExit = () => removeChannel(o.loadDir);
  if (o.removeLoadDir) process.once('exit', onExit);

  let server: Server | undefined;
  let listening: Promise<number | undefined> = Promise.resolve(undefined);
  if (o.settings.metricsPort !== undefined) {
    const srv = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        metrics.scrape().then(
          ({ body, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(body),
          (err: unknown) => {
            log.warn({ err: String(err) }, 'metrics scrape failed');
            res.writeHead(500).end('scrape failed\n');
          },
        );
      } else if (path === '/healthz') {
        const h = metrics.health();
        const ok = h.status === 'ok' || h.status === 'draining';
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
      } else {
        res.writeHead(404).end('not found\n');
      }
    });
    server = srv;
    listening = new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(o.settings.metricsPort, o.settings.metricsHost, () => {
        const port = (srv.address() as AddressInfo).port;
        log.info({ port, host: o.settings.metricsHost ?? '*' }, 'metrics server listening');
        resolve(port);
      });
    });
    // The server must not keep a finished worker alive.
    srv.unref();
  }

  return {
    metrics,
    listening,
    observeLoad(f) {
      return async (worker) => {
        const load = await f();
        metrics.report({ load, jobs: worker.activeJobs.length, workerId: worker.id, agentName: o.agentName });
        return load;
      };
    },
    async aclose() {
      process.off('SIGTERM', onSigterm);
      process.off('exit', onExit);
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

/**
 * Static checks of the deployment files (Docker cannot run here): the Dockerfile, the compose file and
 * the Kubernetes manifests must agree with the code — entry points and copied files exist, the image
 * runs as non-root, grace periods exceed the drain deadline, the HPA scales on the metric the worker
 * exports, and probes and scrape annotations point at ports and paths the processes really serve.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { opsSettings } from '../agent/config.ts';
import { silentLogger } from '../agent/log.ts';
import { WORKER_LOAD_METRIC } from '../agent/ops/metrics.ts';
import { startWorkerOps, type WorkerOps } from '../agent/ops/worker.ts';
import { startTokenServer, type TokenServer } from '../token-server/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
type Doc = any;

function manifests(file: string): Doc[] {
  return parseAllDocuments(read(file)).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  });
}

const kind = (docs: Doc[], k: string): Doc => {
  const d = docs.find((x) => x.kind === k);
  if (!d) throw new Error(`no ${k}`);
  return d;
};

function env(container: Doc, name: string): string | undefined {
  return container.env?.find((e: Doc) => e.name === name)?.value;
}

function portNumber(container: Doc, port: string | number): number {
  if (typeof port === 'number') return port;
  const p = container.ports?.find((x: Doc) => x.name === port);
  if (!p) throw new Error(`container ${container.name} has no port named ${port}`);
  return p.containerPort;
}

/** Source files reachable through relative imports from the worker, its job entry and the token server. */
let graph: Set<string> | undefined;
function runtimeFiles(): Set<string> {
  if (graph) return graph;
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of read(file).matchAll(/from '(\.{1,2}\/[^']+\.ts)'/g)) {
      visit(resolve(ROOT, file, '..', m[1]!).slice(ROOT.length));
    }
  };
  for (const entry of ['agent/main.ts', 'agent/entry.ts', 'token-server/cli.ts']) visit(entry);
  graph = seen;
  return seen;
}

// --- Dockerfile --------------------------------------------------------------------------------------

interface Stage {
  from: string;
  name: string | undefined;
  lines: string[];
}

function dockerStages(text: string): Stage[] {
  const joined = text.replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1]!, name: from[2], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

/** Files and directories the final image contains (destination → repository source), from its COPY lines. */
function copiedPaths(stage: Stage): { src: string; from: string | undefined }[] {
  const out: { src: string; from: string | undefined }[] = [];
  for (const l of stage.lines) {
    const m = /^COPY\s+(.*)$/i.exec(l);
    if (!m) continue;
    const words = m[1]!.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice(7);
    const args = words.filter((w) => !w.startsWith('--'));
    for (const src of args.slice(0, -1)) out.push({ src, from });
  }
  return out;
}

describe('deploy/Dockerfile', () => {
  const stages = dockerStages(read('deploy/Dockerfile'));
  const final = stages.at(-1)!;

  test('multi-stage on Node 24 (type stripping runs the .ts sources)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:24[.-]/);
    const names = stages.map((s) => s.name);
    for (const s of stages) {
      for (const c of copiedPaths(s)) if (c.from) expect(names.slice(0, stages.indexOf(s))).toContain(c.from);
    }
  });

  test('the final image runs as an unprivileged user and stops with SIGTERM', () => {
    const user = final.lines.filter((l) => /^USER\s/i.test(l)).at(-1);
    expect(user).toBeDefined();
    expect(user!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    expect(final.lines).toContain('STOPSIGNAL SIGTERM');
  });

  test('every COPY source from the build context exists; the context leaves node_modules out', () => {
    for (const s of stages) {
      for (const c of copiedPaths(s)) {
        if (c.from || c.src === '.') continue;
        expect(existsSync(join(ROOT, c.src)), `${c.src} (stage ${s.name ?? s.from})`).toBe(true);
      }
    }
    const ignore = read('deploy/Dockerfile.dockerignore').split('\n');
    expect(ignore).toContain('**/node_modules');
    expect(ignore).toContain('.git');
  });

  test('CMD is the worker entry point; every source file the entry points import is copied', () => {
    const cmd = final.lines.find((l) => /^CMD\s/i.test(l))!;
    expect(JSON.parse(cmd.slice(4))).toEqual(['node', 'agent/main.ts', 'start']);
    const copied = copiedPaths(final).map((c) => c.src);
    for (const file of runtimeFiles()) {
      expect(
        copied.some((c) => file === c || file.startsWith(`${c}/`)),
        `${file} is not copied into the image`,
      ).toBe(true);
    }
    expect(runtimeFiles().size).toBeGreaterThan(10);
  });

  test('packages the runtime imports are installed by `npm ci --omit=dev`', () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
    const used = new Set<string>();
    for (const file of runtimeFiles()) {
      for (const m of read(file).matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^'.][^']*)'/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) continue;
        used.add(
          spec
            .split('/')
            .slice(0, spec.startsWith('@') ? 2 : 1)
            .join('/'),
        );
      }
    }
    expect(used).toContain('@livekit/agents');
    for (const name of used) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, `${name} is not installed`).toBeDefined();
      expect(entry!.dev, `${name} is a devDependency only`).not.toBe(true);
    }
  });

  test('exposes the worker metrics port and the token server port', () => {
    const exposed = final.lines
      .filter((l) => /^EXPOSE\s/i.test(l))
      .flatMap((l) => l.split(/\s+/).slice(1))
      .map(Number);
    expect(exposed).toContain(opsSettings({}).metricsPort);
    expect(exposed).toContain(8090);
  });
});

// --- compose -----------------------------------------------------------------------------------------

/** Compose durations (`10m`, `90s`, `1m30s`) in seconds. */
function seconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms|us)/g)) {
    total +=
      Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6 }[m[2] as 'h' | 'm' | 's' | 'ms' | 'us'];
  }
  return total;
}

describe('deploy/compose.yaml', () => {
  const compose = parse(read('deploy/compose.yaml')) as Doc;
  const services = compose.services as Record<string, Doc>;

  test('the agent stops within its grace period after draining', () => {
    const agent = services.agent;
    const drain = Number(agent.environment?.AGENT_DRAIN_TIMEOUT_S ?? opsSettings({}).drainTimeoutMs / 1000);
    expect(seconds(agent.stop_grace_period)).toBeGreaterThan(drain);
    expect(agent.build.dockerfile).toBe('deploy/Dockerfile');
    expect(existsSync(join(ROOT, 'deploy', agent.build.context, agent.build.dockerfile))).toBe(true);
  });

  test('commands and mounted files exist', () => {
    const ts = services['token-server'];
    expect(existsSync(join(ROOT, ts.command[1]))).toBe(true);
    for (const v of services.livekit.volumes as string[]) {
      expect(existsSync(join(ROOT, 'deploy', v.split(':')[0]!))).toBe(true);
    }
  });
});

// --- Kubernetes --------------------------------------------------------------------------------------

const tmpDirs: string[] = [];
let ops: WorkerOps | undefined;
let tokenServer: TokenServer | undefined;
afterAll(async () => {
  await ops?.aclose();
  await tokenServer?.close();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** The worker's ops server as the image runs it (in-process, any free port). */
async function workerOps(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-test-'));
  tmpDirs.push(dir);
  ops = startWorkerOps({
    settings: { ...opsSettings({}), metricsPort: 0, metricsHost: '127.0.0.1' },
    loadDir: dir,
    loadThreshold: 0.75,
    agentName: '',
    logger: silentLogger,
  });
  const port = (await ops.listening)!;
  // One load report, as the connected worker makes every 2.5 s.
  await ops.observeLoad(async () => 0.1)({ id: 'AW_test', activeJobs: [] });
  return port;
}

describe('deploy/kubernetes/agent-worker.yaml', () => {
  const docs = manifests('deploy/kubernetes/agent-worker.yaml');
  const deployment = kind(docs, 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  test('runs as non-root with a read-only root filesystem and a writable /tmp (load directory)', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).not.toBe(0);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.volumeMounts.map((m: Doc) => m.mountPath)).toContain('/tmp');
  });

  test('the grace period exceeds the drain timeout', () => {
    const drain = Number(env(container, 'AGENT_DRAIN_TIMEOUT_S'));
    expect(opsSettings({ AGENT_DRAIN_TIMEOUT_S: String(drain) }).drainTimeoutMs).toBe(drain * 1000);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drain);
  });

  test('a rollout hands conversations over: hand-off drain, and a new worker up before an old one stops', () => {
    expect(opsSettings({ AGENT_DRAIN_MODE: env(container, 'AGENT_DRAIN_MODE') }).drainMode).toBe('handoff');
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
  });

  test('runs the worker entry point of the image', () => {
    expect(container.args).toEqual(['node', 'agent/main.ts', 'start']);
    expect(existsSync(join(ROOT, container.args[1]))).toBe(true);
  });

  test('the HPA scales this Deployment on the load gauge the worker exports', async () => {
    const hpa = kind(docs, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    const metric = hpa.spec.metrics[0].pods.metric.name;
    expect(metric).toBe(WORKER_LOAD_METRIC);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    const port = await workerOps();
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(new RegExp(`^${metric} 0\\.1$`, 'm'));
  });

  test('probes and scrape annotations point at the port and paths the worker serves', async () => {
    const metricsPort = Number(env(container, 'AGENT_METRICS_PORT'));
    expect(portNumber(container, 'metrics')).toBe(metricsPort);
    const ann = deployment.spec.template.metadata.annotations;
    expect(Number(ann['prometheus.io/port'])).toBe(metricsPort);
    const port = ops ? (await ops.listening)! : await workerOps();
    const paths = [ann['prometheus.io/path']];
    for (const probe of [container.readinessProbe, container.livenessProbe].filter(Boolean)) {
      expect(portNumber(container, probe.httpGet.port)).toBe(metricsPort);
      paths.push(probe.httpGet.path);
    }
    expect(paths.length).toBeGreaterThanOrEqual(2);
    for (const p of paths) expect((await fetch(`http://127.0.0.1:${port}${p}`)).status, p).toBe(200);
  });

  test('the PodDisruptionBudget selects the worker pods', () => {
    const pdb = kind(docs, 'PodDisruptionBudget');
    expect(deployment.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });
});

describe('deploy/kubernetes/token-server.yaml', () => {
  const docs = manifests('deploy/kubernetes/token-server.yaml');
  const deployment = kind(docs, 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  test('non-root; the CLI port, container port, Service and scrape annotation agree', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(existsSync(join(ROOT, container.args[1]))).toBe(true);
    const cliPort = Number(container.args[container.args.indexOf('--port') + 1]);
    expect(portNumber(container, 'http')).toBe(cliPort);
    expect(Number(deployment.spec.template.metadata.annotations['prometheus.io/port'])).toBe(cliPort);
    const svc = kind(docs, 'Service');
    expect(svc.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(portNumber(container, svc.spec.ports[0].targetPort)).toBe(cliPort);
  });

  test('probes and the scrape path are served by the token server', async () => {
    tokenServer = await startTokenServer({
      port: 0,
      host: '127.0.0.1',
      livekitUrl: 'ws://127.0.0.1:7880',
      apiKey: 'devkey',
      apiSecret: 'devsecret-0123456789abcdefghijklmnop',
      logger: pino({ level: 'silent' }),
    });
    const ann = deployment.spec.template.metadata.annotations;
    const paths = [
      ann['prometheus.io/path'],
      container.readinessProbe.httpGet.path,
      container.livenessProbe.httpGet.path,
    ];
    for (const p of paths) expect((await fetch(`${tokenServer.url}${p}`)).status, p).toBe(200);
  });
});

describe('livekit.yaml', () => {
  test('a real livekit-server accepts it: secret length, TURN off, the ports the stack uses', () => {
    const cfg = parse(read('livekit.yaml')) as Doc;
    for (const secret of Object.values(cfg.keys) as string[])
      expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(cfg.turn.enabled).toBe(false);
    expect(cfg.port).toBe(7880);
    expect(read('livekit.yaml')).toMatch(/^# redis:/m);
  });
});

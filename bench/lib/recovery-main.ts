/**
 * Issue #16's figures: the gap a user hears when the conversation outlives the process that held it,
 * for ours and the reference (LiveKit's Gemini plugin), each with two workers on the dev server.
 * Not part of `npm run bench` (a case that does not come back costs its whole bound). See
 * bench/README.md, "Recovery".
 *
 *   node bench/recovery.ts [--quick] [--sides ours,reference] [--cases job,worker,drain] [--repeat N]
 *                          [--bound S] [--all-reps] [--out FILE]
 *
 * Recovery runs with the deployer's defaults (AGENT_RECOVERY_POLL_S 15, AGENT_RECOVERY_GRACE_S 10) and
 * the dev server's default reconnect grace (15 s, as livekit-server drops an agent whose connection
 * died); ours' workers run with AGENT_DRAIN_MODE=handoff. A case that did not come back within the bound
 * is not repeated for that side (its figure is the bound), unless `--all-reps`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_LIVE_MODEL } from '../../shared/gemini-models/index.ts';
import { type Child, SIDES, type Side, startDevServer, startWorker } from './children.ts';
import {
  type BenchWorker,
  CASES,
  type RecoveryCase,
  type RecoverySample,
  runRecoveryCase,
} from './recovery.ts';
import { summarize } from './stats.ts';
import { LiveTap } from './tap.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sides: { type: 'string', default: 'ours,reference' },
    cases: { type: 'string', default: CASES.join(',') },
    repeat: { type: 'string' },
    bound: { type: 'string', default: '60' },
    'all-reps': { type: 'boolean', default: false },
    model: { type: 'string', default: DEFAULT_LIVE_MODEL },
    out: { type: 'string', default: fileURLToPath(new URL('../results/recovery.json', import.meta.url)) },
  },
});
const sides = args.sides!.split(',').map((s) => s.trim()) as Side[];
for (const s of sides) if (!(s in SIDES)) throw new Error(`unknown side ${s}`);
const cases = args.cases!.split(',').map((s) => s.trim()) as RecoveryCase[];
for (const c of cases) if (!CASES.includes(c)) throw new Error(`unknown case ${c}`);
const repeat = Math.max(1, Number(args.repeat ?? (args.quick ? 1 : 3)));
const boundS = Number(args.bound);

const t0 = Date.now();
const log = (line: string) =>
  process.stderr.write(`[recovery +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);

const dev = await startDevServer();
const tap = new LiveTap('http://127.0.0.1:1');
await tap.listen();
const dirs: string[] = [];
const running = new Set<Child>();

async function start(side: Side): Promise<BenchWorker> {
  const probeDir = mkdtempSync(join(os.tmpdir(), `bench-recovery-${side}-`));
  dirs.push(probeDir);
  const child = await startWorker(side, {
    livekit: dev.endpoint,
    geminiUrl: tap.url,
    probeDir,
    env: {
      GEMINI_MODEL: args.model!,
      AGENT_DRAIN_MODE: 'handoff',
    },
  });
  running.add(child);
  return { child, probeDir };
}

/** A worker's output, kept beside the results (git-ignored *.log). */
function keepLog(side: Side, c: Child): void {
  writeFileSync(join(dirname(args.out!), `recovery-${side}-${c.pid}.log`), c.output);
}

async function stopAll(): Promise<void> {
  for (const c of running) await c.stop();
  running.clear();
}

process.on('SIGINT', () => {
  void stopAll()
    .then(() => dev.child.stop())
    .then(() => process.exit(130));
});

const samples: RecoverySample[] = [];
const errors: string[] = [];
try {
  log(`dev server ${dev.endpoint.url}; sides ${sides.join(',')}, cases ${cases.join(',')}, ×${repeat}`);
  for (const side of sides) {
    const workers = [await start(side), await start(side)];
    for (const kind of cases) {
      for (let rep = 0; rep < repeat; rep++) {
        // Keep two workers registered: replace any that died or drained away.
        for (let i = 0; i < workers.length; i++) {
          if (workers[i]!.child.running) continue;
          await workers[i]!.child.stop();
          keepLog(side, workers[i]!.child);
          running.delete(workers[i]!.child);
          workers[i] = await start(side);
        }
        try {
          const s = await runRecoveryCase(
            {
              side,
              agentName: SIDES[side].agentName,
              model: args.model!,
              livekit: dev.endpoint,
              tap,
              workers,
              boundS,
              log,
            },
            kind,
          );
          samples.push(s);
          log(`${side} ${kind} #${rep + 1}: ${JSON.stringify(s)}`);
          if (!s.cameBack && !args['all-reps']) break;
        } catch (err) {
          errors.push(`${side} ${kind} #${rep + 1}: ${(err as Error).message.split('\n')[0]}`);
          log(errors.at(-1)!);
        }
        // A drained worker still holds its job until the room is gone: let it leave before the next.
        if (kind === 'drain') await Promise.race(workers.map((w) => w.child.exited(20_000)));
      }
    }
    for (const w of workers) keepLog(side, w.child);
    await stopAll();
  }
} finally {
  await stopAll();
  await dev.child.stop();
  await tap.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

// ---- report ---------------------------------------------------------------------------------------

const rows: string[] = [];
const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  durationSeconds: Math.round((Date.now() - t0) / 1000),
  machine: { cpus: os.cpus().length, loadavgAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
  plan: { repeat, boundS, cases, sides, recovery: 'defaults', devServerReconnectGraceS: 15 },
  samples,
  errors,
  figures: {} as Record<string, unknown>,
};
for (const side of sides) {
  for (const kind of cases) {
    const s = samples.filter((x) => x.side === side && x.case === kind);
    if (!s.length) continue;
    const back = s.filter((x) => x.cameBack);
    const fig = {
      n: s.length,
      cameBack: `${back.length}/${s.length}`,
      gapMs: summarize(
        back.map((x) => x.gapMs!),
        0,
      ),
      utterancesLost: summarize(
        s.map((x) => x.utterancesLost),
        1,
      ),
      voicedLostS: summarize(
        s.map((x) => x.voicedLostS),
        1,
      ),
      model: s.map((x) => x.model ?? '—').join(','),
      sameAgent: s.map((x) => (x.sameAgent === null ? '—' : x.sameAgent ? 'same' : 'new')).join(','),
    };
    (report.figures as Record<string, unknown>)[`${side}/${kind}`] = fig;
    rows.push(
      `${side.padEnd(9)} ${kind.padEnd(6)} came back ${fig.cameBack}` +
        (back.length
          ? `, gap p50 ${fig.gapMs.p50} ms p95 ${fig.gapMs.p95} ms`
          : `: did not come back within ${boundS} s`) +
        `, utterances lost p50 ${fig.utterancesLost.p50} (max ${fig.utterancesLost.max}), voice lost p50 ${fig.voicedLostS.p50} s, model ${fig.model}, agent ${fig.sameAgent}`,
    );
  }
}
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(
  `${[...rows, ...errors.map((e) => `ERROR ${e}`), `wrote ${args.out} (${report.durationSeconds} s)`].join('\n')}\n`,
);
process.exit(0);

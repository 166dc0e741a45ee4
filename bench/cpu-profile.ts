/**
 * Where a job process's JavaScript time goes, by package: reads the `.cpuprofile` files a run wrote with
 * `NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR"` and sums the self time of the agent job processes' main
 * threads (the profiles that ran `job_proc_lazy_main`), grouped by the package or Node module each sample
 * was in. The first `--skip` seconds of each profile (module loading, room join) are left out so the
 * figure is the steady state of a running session.
 *
 *   NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/run.ts --only capacity --levels 4 --window 30
 *   node bench/cpu-profile.ts /tmp/prof [--skip 12] [--top 25]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = `${pathToFileURL(join(import.meta.dirname, '..')).href}/`;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { skip: { type: 'string', default: '12' }, top: { type: 'string', default: '25' } },
});
const dir = positionals[0];
if (!dir || !existsSync(dir)) {
  console.error(
    `${dir ? `no such directory: ${dir}\n` : ''}usage: node bench/cpu-profile.ts DIR [--skip S] [--top N]`,
  );
  process.exit(2);
}
const skipUs = Number(values.skip) * 1e6;
const top = Number(values.top);

/** `node_modules/@scope/pkg/…` → `@scope/pkg`; project files → their top folder; natives by name. */
function groupOf(frame: CallFrame): string {
  const url = frame.url;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const [first = '', second = ''] = url.slice(nm + 'node_modules/'.length).split('/');
    return first.startsWith('@') ? `${first}/${second}` : first;
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  if (url.startsWith(ROOT)) return `${url.slice(ROOT.length).split('/').slice(0, -1).join('/')}/`;
  return frame.functionName || '(native)';
}

const byGroup = new Map<string, number>();
const byFunction = new Map<string, number>();
let busyUs = 0;
let files = 0;
for (const name of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
  if (!profile.nodes.some((n) => n.callFrame.url.includes('job_proc_lazy_main'))) continue;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<CallFrame, number>();
  let t = 0;
  for (const [i, id] of profile.samples.entries()) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    const frame = frames.get(id);
    if (t < skipUs || !frame || frame.functionName === '(idle)' || frame.functionName === '(program)')
      continue;
    self.set(frame, (self.get(frame) ?? 0) + dt);
  }
  // The pre-forked process that never got a job reads no track: it is not a session.
  if (![...self.keys()].some((f) => f.url.includes('rtc-node/dist/audio_stream'))) continue;
  files += 1;
  for (const [frame, us] of self) {
    busyUs += us;
    const group = groupOf(frame);
    byGroup.set(group, (byGroup.get(group) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} ${group}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
}
if (!files) {
  console.error(`no job-process profiles in ${dir}`);
  process.exit(1);
}

function print(title: string, table: Map<string, number>): void {
  console.log(title);
  for (const [key, us] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / busyUs).toFixed(1).padStart(6)} %  ${key}`);
  }
}
console.log(
  `${files} job processes, ${(busyUs / 1e6 / files).toFixed(1)} s busy each after the first ${values.skip} s`,
);
print('\nby package / module (share of main-thread busy time):', byGroup);
print('\nby function:', byFunction);

import { countSessions } from './channel.ts';
import { cpuSampler } from './cpu-load.ts';

/**
 * Worker load: the larger of CPU use (the container's quota when it has one, else the machine; see
 * {@link cpuSampler}) and the share of `maxSessions` in use in its job processes (their counts arrive
 * through the channel, ops/channel.ts), so a worker full of idle sessions stops taking jobs as surely
 * as a busy one. `cpu: false` (`AGENT_LOAD_CPU=false`) counts sessions only.
 */
export function loadFunction(
  dir: string,
  maxSessions: number,
  o: { cpu?: boolean } = {},
): () => Promise<number> {
  const cpu = o.cpu === false ? () => 0 : cpuSampler();
  return async () => Math.max(cpu(), Math.min(1, countSessions(dir) / maxSessions));
}

import type { ModalityTokenCount, UsageMetadata } from '@google/genai';

/**
 * Which tokens a count is: `input` (the prompt the model read for the turn, the whole context),
 * `output` (its response), `cached` (the part of `input` served from the context cache, counted again
 * here so that `input - cached` is what was read afresh), `thought` (reasoning, not in `output`),
 * `tool_use` (the prompt of built-in tool use, e.g. Google Search results).
 */
export type TokenDirection = 'input' | 'output' | 'cached' | 'thought' | 'tool_use';

/** One count of a `usageMetadata`: tokens of one direction and modality. */
export interface TokenCount {
  direction: TokenDirection;
  /** `AUDIO`, `TEXT`, `IMAGE`, `VIDEO`, …; `UNSPECIFIED` when the service gives no breakdown. */
  modality: string;
  tokens: number;
}

/** A `usageMetadata`, typed: the totals per direction and their breakdown by modality. */
export interface LiveUsage {
  input: number;
  output: number;
  cached: number;
  thought: number;
  toolUse: number;
  total: number;
  counts: TokenCount[];
}

function split(
  direction: TokenDirection,
  total: number | undefined,
  details: ModalityTokenCount[] | undefined,
): TokenCount[] {
  const out: TokenCount[] = [];
  let listed = 0;
  for (const d of details ?? []) {
    const tokens = d.tokenCount ?? 0;
    if (tokens <= 0) continue;
    listed += tokens;
    const modality = d.modality && d.modality !== 'MODALITY_UNSPECIFIED' ? String(d.modality) : 'UNSPECIFIED';
    out.push({ direction, modality, tokens });
  }
  // A total without (complete) details: the rest is still counted, just not by modality.
  const rest = (total ?? 0) - listed;
  if (rest > 0) out.push({ direction, modality: 'UNSPECIFIED', tokens: rest });
  return out;
}

/** The typed usage of a server message's `usageMetadata` (one turn's worth on the Live API). */
export function decodeUsage(u: UsageMetadata): LiveUsage {
  const counts = [
    ...split('input', u.promptTokenCount, u.promptTokensDetails),
    ...split('output', u.responseTokenCount, u.responseTokensDetails),
    ...split('cached', u.cachedContentTokenCount, u.cacheTokensDetails),
    ...split('thought', u.thoughtsTokenCount, undefined),
    ...split('tool_use', u.toolUsePromptTokenCount, u.toolUsePromptTokensDetails),
  ];
  const sum = (d: TokenDirection) =>
    counts.filter((c) => c.direction === d).reduce((n, c) => n + c.tokens, 0);
  const input = sum('input');
  const output = sum('output');
  const thought = sum('thought');
  const toolUse = sum('tool_use');
  return {
    input,
    output,
    cached: sum('cached'),
    thought,
    toolUse,
    total: u.totalTokenCount ?? input + output + thought + toolUse,
    counts,
  };
}

/** The numbers of {@link UsageTotals}. */
export type UsageSums = Omit<UsageTotals, 'add' | 'merge' | 'toJSON'>;

/** Running totals of a session's usage (the job's closing log line). */
export class UsageTotals {
  input = 0;
  output = 0;
  cached = 0;
  thought = 0;
  toolUse = 0;
  total = 0;
  /** `usageMetadata` messages added. */
  reports = 0;

  add(u: LiveUsage): void {
    this.merge({ ...u, reports: 1 });
  }

  /** Adds another session's totals (the job's sum). */
  merge(o: UsageSums): void {
    this.input += o.input;
    this.output += o.output;
    this.cached += o.cached;
    this.thought += o.thought;
    this.toolUse += o.toolUse;
    this.total += o.total;
    this.reports += o.reports;
  }

  toJSON(): UsageSums {
    const { input, output, cached, thought, toolUse, total, reports } = this;
    return { input, output, cached, thought, toolUse, total, reports };
  }
}

import { z } from 'zod';
import type { Backend } from '../../shared/gemini-models/index.ts';
import { DEFAULT_LIVE_MODEL } from '../../shared/gemini-models/index.ts';
import { type McpServerConfig, mcpRoomSelectionSchema, narrowForRoom } from '../mcp/config.ts';
import { ConfigError, formatIssue, issueLine, jsonErrorAt } from './error.ts';
import { checkRoomModel, type DeclaredFunction } from './model.ts';

/** Default Live model: the catalogue's (shared/gemini-models). */
export const DEFAULT_MODEL = DEFAULT_LIVE_MODEL;

/** How the agent serves several humans in one room. */
export const POLICIES = ['shared', 'floor', 'per-participant'] as const;
export type MultiUserPolicy = (typeof POLICIES)[number];

const sensitivity = z.enum(['high', 'low']);

/** Voice activity detection on the Live server (`realtimeInputConfig.automaticActivityDetection`). */
export const vadSchema = z
  .object({
    /** Sensitivity of start-of-speech detection. */
    startSensitivity: sensitivity.optional(),
    /** Sensitivity of end-of-speech detection. */
    endSensitivity: sensitivity.optional(),
    /** Audio kept before detected speech start, ms. */
    prefixPaddingMs: z.number().int().min(0).max(10_000).optional(),
    /** Silence that ends a user turn, ms. */
    silenceDurationMs: z.number().int().min(0).max(10_000).optional(),
  })
  .strict();

/** Camera/screen sampling sent as `realtimeInput.video`. */
export const videoSchema = z
  .object({
    /** Off by default: video shortens sessions and costs tokens. */
    enabled: z.boolean().default(false),
    /** Frames per second sent to the model; the Live API takes at most 1. */
    fps: z.number().gt(0).max(1).default(1),
    /** Longest side of the JPEG sent, px (the Live API recommends 768). */
    maxSize: z.number().int().min(64).max(768).default(768),
    /** JPEG quality 1–100. */
    quality: z.number().int().min(1).max(100).default(70),
    /**
     * Tokens the model spends per frame (`mediaResolution`): `low` takes a quarter of the default, so a
     * video session's context lasts longer. The service's default when unset.
     */
    resolution: z.enum(['low', 'medium', 'high']).optional(),
  })
  .strict();

/** Context-window compression: lets sessions outlive the 15 min (audio) / 2 min (video) limits. */
export const compressionSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Context size that triggers compression (tokens); server default when unset. */
    triggerTokens: z.number().int().positive().optional(),
    /** Context size kept after compression (tokens); server default when unset. */
    targetTokens: z.number().int().positive().optional(),
  })
  .strict();

/** Settings that may differ per room (env defaults, overridden by room/job metadata). */
export const roomConfigSchema = z
  .object({
    /** Live model id, with or without the `models/` prefix. */
    model: z.string().min(1).default(DEFAULT_MODEL),
    /** Prebuilt voice name (Puck, Charon, Kore, …); model default when unset. */
    voice: z.string().min(1).optional(),
    /** System instruction given to the model at setup. */
    systemInstruction: z
      .string()
      .default(
        'You are a helpful voice assistant in a LiveKit room. Several people may talk to you; ' +
          'messages tagged [name] tell you who is speaking. Lines wholly in square brackets are notes ' +
          'about the room (who joined, left or is speaking): take them in without replying. ' +
          'Keep answers short and conversational.',
      ),
    /** BCP-47 language code for speech output (`speechConfig.languageCode`). */
    language: z.string().min(2).optional(),
    /**
     * Names of registered tools offered to the model. Unset: every tool the agent has
     * (`resolveRoomConfig` fills them in from `availableTools`).
     */
    tools: z.array(z.string().min(1)).optional(),
    /** Multi-user policy. */
    policy: z.enum(POLICIES).default('shared'),
    /** Manual activity detection driven by `ptt.start`/`ptt.end` RPCs instead of server VAD. */
    pushToTalk: z.boolean().default(false),
    /** Silence after which a `floor` holder loses the floor, ms. */
    floorReleaseMs: z.number().int().min(100).max(60_000).default(1500),
    video: videoSchema.default({ enabled: false, fps: 1, maxSize: 768, quality: 70 }),
    vad: vadSchema.default({}),
    compression: compressionSchema.default({ enabled: true }),
    /**
     * Which of the worker's MCP servers (`AGENT_MCP_SERVERS`) the room uses, and which of their tools
     * (docs/mcp.md); every configured server when unset. Only narrows: never adds a server.
     */
    mcp: mcpRoomSelectionSchema.optional(),
    /** Upper bound on a tool call's run time before an error is returned to the model, ms. */
    toolTimeoutMs: z.number().int().min(100).max(600_000).default(20_000),
    /** Sampling temperature. */
    temperature: z.number().min(0).max(2).optional(),
    /**
     * Thinking budget, tokens (`thinkingConfig.thinkingBudget`) for models that take one (2.5): 0 turns
     * thinking off (lowest latency), -1 lets the model decide. The model's default when unset; left out
     * (with a warning) on models without it.
     */
    thinkingBudget: z.number().int().min(-1).max(32_768).optional(),
    /**
     * Thinking level (`thinkingConfig.thinkingLevel`) for models that take one (3.1 Flash Live, 3.8
     * extended thinking). The model's default when unset; left out (with a warning) elsewhere.
     */
    thinkingLevel: z.enum(['minimal', 'low', 'medium', 'high']).optional(),
    /**
     * Affective dialog: the model adapts its tone to the user's (2.5 native audio, opt-in, API v1alpha).
     * The model's default when unset; `true` is left out (with a warning) on models without it.
     */
    affectiveDialog: z.boolean().optional(),
    /**
     * Proactive audio: the model may stay silent when speech is not meant for it, e.g. people talking to
     * each other in the room (2.5 native audio, opt-in, API v1alpha; always on in 3.8, where `false`
     * fails the room). The model's default when unset.
     */
    proactiveAudio: z.boolean().optional(),
    /** Google Search grounding as a built-in tool, beside the function tools. */
    googleSearch: z.boolean().default(false),
  })
  .strict();

export type RoomConfig = z.infer<typeof roomConfigSchema>;
export type RoomConfigInput = z.input<typeof roomConfigSchema>;

/**
 * Our settings in one metadata string. The rule: metadata that starts with `{` is meant as JSON and must
 * parse (a typo like `{"pushToTalk": tru` fails the room instead of silently giving other settings);
 * anything else that is not a JSON object (plain text, a number, an array) belongs to the application
 * and carries no overrides. `where` names the source in errors; the metadata itself is never echoed
 * (dispatch metadata is not visible to the room, `lk.agent.error` is).
 */
function metadataObject(metadata: string | undefined, where: string): Record<string, unknown> | undefined {
  const text = metadata?.trim();
  if (!text) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    if (!text.startsWith('{')) return undefined; // free-form metadata of the application
    throw new ConfigError(`invalid ${where}: starts with "{" but is not valid JSON${jsonErrorAt(err)}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  // Metadata shared with other applications keeps our settings under `agent`.
  const inner = o.agent;
  if (inner && typeof inner === 'object' && !Array.isArray(inner)) return inner as Record<string, unknown>;
  return o;
}

function pickKnown(o: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!o) return {};
  const known = new Set(Object.keys(roomConfigSchema.shape));
  return Object.fromEntries(Object.entries(o).filter(([k]) => known.has(k)));
}

/** Options of {@link resolveRoomConfig}. */
export interface ResolveRoomOptions {
  /**
   * The worker's MCP servers (`AGENT_MCP_SERVERS`): the room's `mcp` selection must name only these
   * (`narrowForRoom`). Not checked when unset.
   */
  mcpServers?: readonly McpServerConfig[];
  /** The worker's backend: the room's model is checked against its entry there (default `gemini`). */
  backend?: Backend;
  /**
   * Names of the tools the worker has (`ToolRegistry.names`): a `tools` entry naming another one is a
   * configuration error like any invalid value. Not checked when unset.
   */
  availableTools?: readonly string[];
  /**
   * Function declarations of the worker's tools (`ToolRegistry.declarations()`): those the room selects
   * are checked against its model with the other settings.
   */
  functions?: readonly DeclaredFunction[];
  /**
   * Told what the room's model ignores (left out of the setup) and an unknown model passed through:
   * one line each, once per resolution.
   */
  warn?: (message: string) => void;
}

/**
 * Layers of configuration, later ones winning key by key; a nested object (`video`, `vad`, …) over
 * another merges key by key.
 */
export function mergeLayers(layers: readonly object[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = merged[k];
      merged[k] =
        v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object'
          ? { ...(prev as object), ...(v as object) }
          : v;
    }
  }
  return merged;
}

/**
 * Room configuration: env defaults ← room metadata ← job (dispatch) metadata. Metadata is JSON; known
 * keys (top level or under `agent`) override, unknown keys are left to their owners. Nested objects
 * (`video`, `vad`, `compression`) merge key by key. Throws {@link ConfigError} for metadata that starts
 * with `{` but is not JSON, invalid values and unknown tool names: the one place that decides whether a
 * room's configuration is usable.
 */
export function resolveRoomConfig(
  defaults: RoomConfigInput,
  sources: { roomMetadata?: string; jobMetadata?: string } = {},
  options: ResolveRoomOptions = {},
): RoomConfig {
  const layers = [
    defaults as Record<string, unknown>,
    pickKnown(metadataObject(sources.roomMetadata, 'room metadata')),
    pickKnown(metadataObject(sources.jobMetadata, 'dispatch metadata')),
  ];
  const merged = mergeLayers(layers);
  const parsed = roomConfigSchema.safeParse(merged);
  const problems = parsed.success ? [] : parsed.error.issues.map(formatIssue);
  // Checked on the merged value, so that a bad tool name is listed with every other problem.
  const available = options.availableTools;
  const tools = parsed.success ? parsed.data.tools : merged.tools;
  if (available && Array.isArray(tools)) {
    const unknown = tools.filter((t) => typeof t === 'string' && !available.includes(t));
    if (unknown.length)
      problems.push(
        issueLine(
          'tools',
          `unknown tool(s) ${unknown.join(', ')}; available: ${available.join(', ') || 'none'}`,
        ),
      );
  }
  // The model's own rules: what it refuses fails the room now rather than as a 1007 on connect.
  let warnings: string[] = [];
  if (parsed.success) {
    if (parsed.data.tools === undefined && available) parsed.data.tools = [...available];
    const selected = new Set(parsed.data.tools ?? []);
    const functions = (options.functions ?? []).filter((f) => f.name && selected.has(f.name));
    const check = checkRoomModel(parsed.data, functions, options.backend);
    for (const r of check.refusals) problems.push(issueLine(r.key, r.problem));
    warnings = check.warnings;
    if (options.mcpServers) {
      try {
        narrowForRoom(options.mcpServers, parsed.data.mcp);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        // Its lines without its own heading: listed with the room's other problems.
        problems.push(...err.message.split('\n').slice(1));
      }
    }
  }
  if (!parsed.success || problems.length)
    throw new ConfigError(`invalid room configuration (env + metadata):\n${problems.join('\n')}`);
  for (const w of warnings) options.warn?.(w);
  return parsed.data;
}

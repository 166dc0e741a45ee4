/**
 * One set of per-model setup rules for every caller: the agent checks its settings before connecting
 * (dropping what the model ignores, failing early on what it refuses), the emulator closes with 1007 on
 * what the real service refuses. Settings come in a neutral shape; {@link settingsFromConfig} and
 * {@link settingsFromSetup} read it off the SDK's `LiveConnectConfig` and the wire `setup` message.
 */
import type { LiveModelSpec } from './catalogue.ts';

/** The per-model relevant part of a Live setup, in one shape for SDK configs and wire setups. */
export interface LiveSettings {
  /** The API version the session connects on (`v1`, `v1beta`, `v1alpha`; `v1beta1` on Vertex). */
  apiVersion?: string;
  /** `thinkingConfig.thinkingBudget` / `thinkingConfig.thinkingLevel`; `{}` for an empty `thinkingConfig`. */
  thinking?: { budget?: number; level?: string };
  /** `enableAffectiveDialog`. */
  affectiveDialog?: boolean;
  /** `proactivity.proactiveAudio` (`null` when `proactivity` is present without it). */
  proactiveAudio?: boolean | null;
  responseModalities?: readonly string[];
  /** Function declarations with their declared `behavior`. */
  functions?: readonly { name: string; behavior?: string }[];
  maxOutputTokens?: number;
}

/** One setting the model does not take. */
export interface SetupIssue {
  /** The {@link LiveSettings} key. */
  setting: keyof LiveSettings;
  /** The field as Google names it in errors (snake_case wire path). */
  field: string;
  problem: string;
  /**
   * `'refuse'`: the real service rejects the setup (the emulator closes 1007). `'drop'`: the model does
   * not support it but no error is documented; leave it out (the emulator ignores it and records it in
   * `stats.ignored`).
   */
  severity: 'refuse' | 'drop';
  /** For refusals that are "Unknown name" errors of an API version rather than model rules. */
  unknownField?: boolean;
}

/** Checks `settings` against a known model's rules; an unknown (pass-through) model yields nothing. */
export function checkSetup(spec: LiveModelSpec, settings: LiveSettings): SetupIssue[] {
  if (!spec.known) return [];
  const out: SetupIssue[] = [];
  const model = spec.id;
  const version = settings.apiVersion;

  if (version !== undefined) {
    const gated = [
      ['affectiveDialog', 'generation_config.enable_affective_dialog', settings.affectiveDialog],
      ['proactiveAudio', 'proactivity', settings.proactiveAudio],
    ] as const;
    for (const [setting, field, value] of gated) {
      const versions = spec.versionGated[setting];
      if (value !== undefined && versions && !versions.includes(version)) {
        out.push({
          setting,
          field,
          severity: 'refuse',
          unknownField: true,
          problem: `${field} exists only on API version ${versions.join('/')}, not ${version}`,
        });
      }
    }
  }

  const t = settings.thinking;
  if (t) {
    const { control, levels } = spec.thinking;
    if (control === 'none') {
      out.push(
        drop(
          'thinking',
          'generation_config.thinking_config',
          `thinking_config is not supported for ${model}`,
        ),
      );
    } else if (control === 'level') {
      if (t.budget !== undefined) {
        out.push(
          drop(
            'thinking',
            'generation_config.thinking_config.thinking_budget',
            `${model} takes thinking_level, not thinking_budget`,
          ),
        );
      }
      if (t.level !== undefined && !levels?.includes(t.level.toUpperCase() as never)) {
        out.push(
          drop(
            'thinking',
            'generation_config.thinking_config.thinking_level',
            `thinking_level ${t.level} is not one of ${levels?.join(', ')} for ${model}`,
          ),
        );
      }
    } else if (t.level !== undefined) {
      out.push(
        drop(
          'thinking',
          'generation_config.thinking_config.thinking_level',
          `${model} takes thinking_budget, not thinking_level`,
        ),
      );
    }
  }

  if (settings.affectiveDialog !== undefined && spec.affectiveDialog === 'unsupported') {
    out.push(
      drop(
        'affectiveDialog',
        'generation_config.enable_affective_dialog',
        `affective dialog is not supported for ${model}`,
      ),
    );
  }

  const pa = settings.proactiveAudio;
  if (pa !== undefined) {
    if (spec.proactiveAudio === 'always' && pa === false) {
      // The one documented error among 3.8's changes (research §2).
      out.push({
        setting: 'proactiveAudio',
        field: 'proactivity.proactive_audio',
        severity: 'refuse',
        problem: `proactive_audio cannot be false for ${model} (always on)`,
      });
    } else if (spec.proactiveAudio === 'unsupported') {
      out.push(drop('proactiveAudio', 'proactivity', `proactive audio is not supported for ${model}`));
    }
  }

  for (const m of settings.responseModalities ?? []) {
    if (m === 'MODALITY_UNSPECIFIED') continue;
    if (!spec.responseModalities.includes(m as never)) {
      // A model without text output cannot honour the setup: refused rather than ignored.
      out.push({
        setting: 'responseModalities',
        field: 'generation_config.response_modalities',
        severity: 'refuse',
        problem: `response_modalities ${m} is not supported for ${model}`,
      });
    }
  }

  for (const f of settings.functions ?? []) {
    const b = f.behavior;
    if (b === 'BLOCKING' || b === 'NON_BLOCKING') {
      if (!spec.functions.behaviors.includes(b)) {
        out.push(
          drop(
            'functions',
            'tools.function_declarations.behavior',
            `${b} functions are not supported for ${model} (${f.name} runs ${spec.functions.defaultBehavior})`,
          ),
        );
      }
    }
  }

  const max = settings.maxOutputTokens;
  if (max !== undefined && max > spec.outputTokenLimit) {
    out.push({
      setting: 'maxOutputTokens',
      field: 'generation_config.max_output_tokens',
      severity: 'refuse',
      problem: `max_output_tokens must be at most ${spec.outputTokenLimit} for ${model}`,
    });
  }
  return out;
}

function drop(setting: keyof LiveSettings, field: string, problem: string): SetupIssue {
  return { setting, field, problem, severity: 'drop' };
}

/**
 * The emulator's 1007 close reason for a refusal, in the service's style and within the 123 bytes a
 * close reason may have.
 */
export function refusalMessage(issue: SetupIssue): string {
  if (issue.unknownField) {
    return `Invalid JSON payload received. Unknown name "${issue.field}" at 'setup': Cannot find field.`;
  }
  return `Invalid argument: ${issue.problem}.`;
}

/**
 * The API version a session needs for its settings on this model: the version that gates a setting it
 * uses (2.5's affective dialog and proactive audio need `v1alpha`), or `undefined` for the SDK default.
 */
export function apiVersionFor(spec: LiveModelSpec, settings: LiveSettings): string | undefined {
  for (const [setting, versions] of Object.entries(spec.versionGated)) {
    if (settings[setting as 'affectiveDialog' | 'proactiveAudio'] !== undefined) return versions?.[0];
  }
  return undefined;
}

/** The function behaviour a declaration gets on this model (declared if honoured, else the default). */
export function effectiveBehavior(
  spec: LiveModelSpec,
  declared: string | undefined,
): 'BLOCKING' | 'NON_BLOCKING' {
  const b = declared === 'BLOCKING' || declared === 'NON_BLOCKING' ? declared : undefined;
  return b && spec.functions.behaviors.includes(b) ? b : spec.functions.defaultBehavior;
}

interface ThinkingLike {
  thinkingBudget?: number;
  thinkingLevel?: string;
}
interface ToolLike {
  functionDeclarations?: readonly { name?: string; behavior?: string }[];
}

function thinkingOf(t: ThinkingLike | undefined): LiveSettings['thinking'] {
  if (!t) return undefined;
  return {
    ...(t.thinkingBudget !== undefined && { budget: t.thinkingBudget }),
    ...(t.thinkingLevel !== undefined &&
      t.thinkingLevel !== 'THINKING_LEVEL_UNSPECIFIED' && { level: t.thinkingLevel }),
  };
}

function functionsOf(tools: readonly ToolLike[] | undefined): LiveSettings['functions'] {
  const out = (tools ?? []).flatMap((t) =>
    (t.functionDeclarations ?? []).map((f) => ({
      name: f.name ?? '',
      ...(f.behavior !== undefined && { behavior: f.behavior }),
    })),
  );
  return out.length ? out : undefined;
}

function defined(s: LiveSettings): LiveSettings {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as LiveSettings;
}

/** Settings of an `@google/genai` `LiveConnectConfig` (structurally typed: any SDK 2.x/3.x config fits). */
export function settingsFromConfig(
  config: {
    thinkingConfig?: ThinkingLike;
    enableAffectiveDialog?: boolean;
    proactivity?: { proactiveAudio?: boolean };
    responseModalities?: readonly string[];
    tools?: readonly unknown[];
    maxOutputTokens?: number;
  },
  apiVersion?: string,
): LiveSettings {
  return defined({
    apiVersion,
    thinking: thinkingOf(config.thinkingConfig),
    affectiveDialog: config.enableAffectiveDialog,
    proactiveAudio: config.proactivity ? (config.proactivity.proactiveAudio ?? null) : undefined,
    responseModalities: config.responseModalities,
    functions: functionsOf(config.tools as ToolLike[] | undefined),
    maxOutputTokens: config.maxOutputTokens,
  });
}

/** Settings of a wire `BidiGenerateContentSetup` (camelCase JSON, as the SDK sends it). */
export function settingsFromSetup(
  setup: {
    generationConfig?: {
      thinkingConfig?: ThinkingLike;
      enableAffectiveDialog?: boolean;
      responseModalities?: readonly string[];
      maxOutputTokens?: number;
    };
    proactivity?: { proactiveAudio?: boolean };
    tools?: readonly ToolLike[];
  },
  apiVersion?: string,
): LiveSettings {
  const g = setup.generationConfig;
  return defined({
    apiVersion,
    thinking: thinkingOf(g?.thinkingConfig),
    affectiveDialog: g?.enableAffectiveDialog,
    proactiveAudio: setup.proactivity ? (setup.proactivity.proactiveAudio ?? null) : undefined,
    responseModalities: g?.responseModalities,
    functions: functionsOf(setup.tools),
    maxOutputTokens: g?.maxOutputTokens,
  });
}

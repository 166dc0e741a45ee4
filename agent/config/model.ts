/**
 * A room's settings against its model (shared/gemini-models): what the model refuses fails the room
 * before any connection (a `ConfigError` naming the model and the setting, instead of a 1007 later);
 * what it only ignores is left out of the setup (live/setup.ts) with a warning. The decision per
 * setting is the catalogue's severity; agent/README.md has the table.
 */
import {
  type Backend,
  checkSetup,
  type LiveModelSpec,
  type LiveSettings,
  liveModel,
  type SetupIssue,
} from '../../shared/gemini-models/index.ts';
import type { RoomConfig } from './room.ts';

/** A function declaration as the catalogue checks it: its name and declared `behavior`. */
export interface DeclaredFunction {
  name?: string;
  behavior?: string;
}

/** What {@link checkRoomModel} found. */
export interface RoomModelCheck {
  spec: LiveModelSpec;
  /** Settings the model refuses, by room key: the room cannot run (each names the model). */
  refusals: { key: string; problem: string }[];
  /** One line per thing left out or passed through unchecked, for the log. */
  warnings: string[];
}

/** The room setting(s) behind a catalogue setting, as the room's configuration names them. */
function roomKey(issue: SetupIssue): string {
  switch (issue.setting) {
    case 'thinking':
      return issue.field.endsWith('thinking_level') ? 'thinkingLevel' : 'thinkingBudget';
    case 'functions':
      return 'tools';
    default:
      return issue.setting;
  }
}

/**
 * Everything the room asks of the model, in the catalogue's neutral shape, before anything is left
 * out. `functions` are the declarations of the room's tools.
 */
export function roomSettings(room: RoomConfig, functions: readonly DeclaredFunction[] = []): LiveSettings {
  const thinking =
    room.thinkingBudget !== undefined || room.thinkingLevel !== undefined
      ? {
          ...(room.thinkingBudget !== undefined && { budget: room.thinkingBudget }),
          ...(room.thinkingLevel !== undefined && { level: room.thinkingLevel.toUpperCase() }),
        }
      : undefined;
  const s: LiveSettings = { responseModalities: ['AUDIO'] };
  if (thinking) s.thinking = thinking;
  if (room.affectiveDialog !== undefined) s.affectiveDialog = room.affectiveDialog;
  if (room.proactiveAudio !== undefined) s.proactiveAudio = room.proactiveAudio;
  if (functions.length)
    s.functions = functions.map((f) => ({
      name: f.name ?? '',
      ...(f.behavior !== undefined && { behavior: f.behavior }),
    }));
  return s;
}

/**
 * Checks a room's settings against its model. An unknown model is passed through with a warning; a
 * setting switched off that the model does not have at all (`affectiveDialog: false` on 3.8) is
 * left out silently: the room gets exactly what it asked for.
 */
export function checkRoomModel(
  room: RoomConfig,
  functions: readonly DeclaredFunction[] = [],
  backend: Backend = 'gemini',
): RoomModelCheck {
  const spec = liveModel(room.model, backend);
  const refusals: RoomModelCheck['refusals'] = [];
  const warnings: string[] = spec.warning ? [spec.warning] : [];
  const settings = roomSettings(room, functions);
  for (const issue of checkSetup(spec, settings)) {
    const key = roomKey(issue);
    if (issue.severity === 'refuse') {
      refusals.push({ key, problem: `model ${spec.id} refuses it (${issue.problem})` });
    } else if (
      !(issue.setting === 'affectiveDialog' || issue.setting === 'proactiveAudio') ||
      settings[issue.setting]
    ) {
      warnings.push(`${key}: left out of the setup of ${spec.id} (${issue.problem})`);
    }
  }
  return { spec, refusals, warnings };
}

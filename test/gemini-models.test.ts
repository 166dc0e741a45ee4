import { describe, expect, it } from 'vitest';
import {
  apiVersionFor,
  checkSetup,
  DEFAULT_LIVE_MODEL,
  effectiveBehavior,
  knownLiveModels,
  LIVE_MODELS,
  liveModel,
  modelId,
  refusalMessage,
  settingsFromConfig,
  settingsFromSetup,
} from '../shared/gemini-models/index.ts';

const NATIVE_25 = 'gemini-2.5-flash-native-audio-preview-12-2025';

/** The model catalogue's lookup and rules, without a connection (the emulator suite covers the wire). */
describe('Gemini Live model catalogue', () => {
  it('the default is gemini-3.8-live, the same id on both backends', () => {
    expect(DEFAULT_LIVE_MODEL).toBe('gemini-3.8-live');
    expect(liveModel(DEFAULT_LIVE_MODEL).known).toBe(true);
    expect(liveModel(DEFAULT_LIVE_MODEL, 'vertex').known).toBe(true);
    expect(knownLiveModels()[0]).toBe(DEFAULT_LIVE_MODEL);
  });

  it('normalises the prefixes the SDKs put on the wire', () => {
    expect(modelId('models/gemini-3.8-live')).toBe('gemini-3.8-live');
    expect(modelId('publishers/google/models/gemini-3.8-live')).toBe('gemini-3.8-live');
    expect(modelId('projects/p/locations/us-central1/publishers/google/models/gemini-3.8-live')).toBe(
      'gemini-3.8-live',
    );
    expect(liveModel('models/gemini-3.1-flash-live-preview').family).toBe('3.1-flash');
  });

  it('2.5 native audio has different ids on the Gemini API and Vertex AI', () => {
    expect(liveModel('gemini-live-2.5-flash-native-audio', 'vertex').known).toBe(true);
    expect(liveModel('gemini-live-2.5-flash-native-audio', 'gemini').known).toBe(false);
    expect(liveModel('gemini-2.5-flash-native-audio-preview-12-2025', 'gemini').thinking.control).toBe(
      'budget',
    );
    expect(liveModel(NATIVE_25, 'vertex')).toMatchObject({ known: false });
    expect(liveModel(NATIVE_25, 'vertex').warning).toMatch(
      /not in the catalogue for Vertex AI \(it is the Gemini API's id\)/,
    );
  });

  it('an unknown model passes through: flagged, with a warning, the default behaviour and no objections', () => {
    const spec = liveModel('models/gemini-9-live-next');
    expect(spec).toMatchObject({ id: 'gemini-9-live-next', known: false, family: 'unknown' });
    expect(spec.warning).toMatch(/gemini-9-live-next.*not in the catalogue.*passing it through/);
    expect(spec.functions.defaultBehavior).toBe(liveModel(DEFAULT_LIVE_MODEL).functions.defaultBehavior);
    const settings = {
      apiVersion: 'v1',
      thinking: { budget: 0 },
      affectiveDialog: true,
      proactiveAudio: false,
      responseModalities: ['TEXT'],
    };
    expect(checkSetup(spec, settings)).toEqual([]);
    // The same settings on the known default model are objected to.
    expect(checkSetup(liveModel(DEFAULT_LIVE_MODEL), settings).length).toBeGreaterThan(0);
  });

  it('3.8: thinking and affective dialog are dropped, proactiveAudio:false and TEXT are refused', () => {
    const issues = checkSetup(liveModel('gemini-3.8-live'), {
      thinking: { level: 'LOW' },
      affectiveDialog: true,
      proactiveAudio: false,
      responseModalities: ['TEXT'],
      maxOutputTokens: 65_537,
    });
    expect(issues.map((i) => [i.setting, i.severity])).toEqual([
      ['thinking', 'drop'],
      ['affectiveDialog', 'drop'],
      ['proactiveAudio', 'refuse'],
      ['responseModalities', 'refuse'],
      ['maxOutputTokens', 'refuse'],
    ]);
    expect(
      checkSetup(liveModel('gemini-3.8-live'), { proactiveAudio: true, maxOutputTokens: 65_536 }),
    ).toEqual([]);
    // On Vertex affective dialog and proactive audio are on by default, and settable.
    expect(
      checkSetup(liveModel('gemini-3.8-live', 'vertex'), { affectiveDialog: true, proactiveAudio: true }),
    ).toEqual([]);
  });

  it('function behaviour per model: 3.8 NON_BLOCKING by default, 3.1 blocking only, extended thinking async only', () => {
    expect(effectiveBehavior(liveModel('gemini-3.8-live'), undefined)).toBe('NON_BLOCKING');
    expect(effectiveBehavior(liveModel('gemini-3.8-live'), 'BLOCKING')).toBe('BLOCKING');
    expect(effectiveBehavior(liveModel('gemini-3.1-flash-live-preview'), 'NON_BLOCKING')).toBe('BLOCKING');
    expect(effectiveBehavior(liveModel('gemini-3.8-live-extended-thinking'), 'BLOCKING')).toBe(
      'NON_BLOCKING',
    );
    expect(effectiveBehavior(liveModel('gemini-2.5-flash-native-audio-preview-12-2025'), undefined)).toBe(
      'BLOCKING',
    );
    const fns = { functions: [{ name: 'f', behavior: 'NON_BLOCKING' }] };
    expect(checkSetup(liveModel('gemini-3.1-flash-live-preview'), fns)).toMatchObject([
      { setting: 'functions', severity: 'drop' },
    ]);
  });

  it('reads SDK configs and wire setups into the same settings', () => {
    const fromConfig = settingsFromConfig(
      {
        thinkingConfig: { thinkingBudget: 0 },
        enableAffectiveDialog: true,
        proactivity: { proactiveAudio: true },
        tools: [{ functionDeclarations: [{ name: 'f', behavior: 'NON_BLOCKING' }] }],
      },
      'v1alpha',
    );
    const fromSetup = settingsFromSetup(
      {
        generationConfig: { thinkingConfig: { thinkingBudget: 0 }, enableAffectiveDialog: true },
        proactivity: { proactiveAudio: true },
        tools: [{ functionDeclarations: [{ name: 'f', behavior: 'NON_BLOCKING' }] }],
      },
      'v1alpha',
    );
    expect(fromConfig).toEqual(fromSetup);
    expect(fromConfig).toEqual({
      apiVersion: 'v1alpha',
      thinking: { budget: 0 },
      affectiveDialog: true,
      proactiveAudio: true,
      functions: [{ name: 'f', behavior: 'NON_BLOCKING' }],
    });
    // 2.5 takes all of it on v1alpha (the version it needs for them), and refuses them elsewhere.
    expect(apiVersionFor(liveModel(NATIVE_25), fromConfig)).toBe('v1alpha');
    expect(apiVersionFor(liveModel(NATIVE_25), { thinking: { budget: 0 } })).toBeUndefined();
    expect(apiVersionFor(liveModel('gemini-3.8-live'), fromConfig)).toBeUndefined();
    const spec25 = liveModel('gemini-2.5-flash-native-audio-preview-12-2025');
    expect(checkSetup(spec25, fromConfig)).toEqual([]);
    expect(checkSetup(spec25, { ...fromConfig, apiVersion: 'v1' }).map((i) => i.field)).toEqual([
      'generation_config.enable_affective_dialog',
      'proactivity',
    ]);
  });

  it('every refusal fits a WebSocket close reason (123 bytes), for every model', () => {
    const worst = {
      apiVersion: 'v1',
      affectiveDialog: true,
      proactiveAudio: false,
      responseModalities: ['TEXT', 'VIDEO'],
      maxOutputTokens: 10 ** 9,
    };
    const refusals = LIVE_MODELS.flatMap((m) => checkSetup(m, worst)).filter((i) => i.severity === 'refuse');
    expect(refusals.length).toBeGreaterThan(LIVE_MODELS.length);
    for (const r of refusals) expect(Buffer.byteLength(refusalMessage(r))).toBeLessThanOrEqual(123);
  });
});

/** The Gemini Live model catalogue and its setup rules (see docs/models.md). */
export * from './catalogue.ts';
export {
  apiVersionFor,
  checkSetup,
  effectiveBehavior,
  type LiveSettings,
  refusalMessage,
  type SetupIssue,
  settingsFromConfig,
  settingsFromSetup,
} from './check.ts';

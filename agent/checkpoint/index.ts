export {
  type CheckpointBinding,
  CheckpointError,
  type CheckpointRefusal,
  MAX_CHECKPOINT_BYTES,
  openCheckpoint,
  sealBounded,
  sealCheckpoint,
} from './codec.ts';
export { JobCheckpoint, type JobCheckpointOptions } from './job.ts';
export { checkpointKey } from './key.ts';
export { type LoadCheckpointOptions, loadCheckpoint, type ResumePoint } from './resume.ts';
export {
  CHECKPOINT_VERSION,
  type Checkpoint,
  type CheckpointState,
  checkpointSchema,
  type SessionState,
  type TranscriptTurn,
} from './state.ts';
export { CHECKPOINT_METADATA_KEY, CheckpointStore, sealedFromMetadata, withSealed } from './store.ts';
export { CheckpointWriter, type CheckpointWriterOptions, DEFAULT_CHECKPOINT_INTERVAL_MS } from './writer.ts';

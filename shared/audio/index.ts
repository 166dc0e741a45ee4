export * from './analyze.ts';
export * from './generate.ts';
export * from './pcm.ts';
export * from './rates.ts';
export * from './resample.ts';
export * from './wav.ts';

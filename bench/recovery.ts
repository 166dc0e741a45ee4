/**
 * `node bench/recovery.ts` entry (see lib/recovery-main.ts for the options): issue #16's figures, the
 * gap users hear when a conversation outlives its worker. NODE_ENV=production for the bench process
 * alone, as in run.ts.
 */
process.env.BENCH_CALLER_NODE_ENV = process.env.NODE_ENV ?? '';
process.env.NODE_ENV = 'production';
await import('./lib/recovery-main.ts');

/**
 * `npm run bench` entry (see lib/main.ts for the options). The bench process itself runs with
 * NODE_ENV=production only so `@livekit/rtc-node` does not log every room event at debug level; the
 * agent workers it starts get the caller's environment unchanged.
 */
process.env.BENCH_CALLER_NODE_ENV = process.env.NODE_ENV ?? '';
process.env.NODE_ENV = 'production';
await import('./lib/main.ts');

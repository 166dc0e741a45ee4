import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every suite starts real servers and real clients on loopback: give them room, and run files in
    // separate forks so a native client (rtc-node) in one file cannot disturb another.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Several suites run real agent workers (with their job processes) or Chromium: on a 2-core CI
    // machine one file at a time keeps them from starving each other.
    fileParallelism: !process.env.CI,
    maxWorkers: process.env.CI ? 1 : 2,
  },
});

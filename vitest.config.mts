import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes: an addon crash fails one file instead of the run, and
    // errors from the addon stay instances of this realm's classes.
    pool: 'forks',
    testTimeout: 60_000,
  },
});

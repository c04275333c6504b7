import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['protocol/**/*.test.ts', 'device/**/*.test.ts', 'hub/**/*.test.ts', 'kiosk-ui/**/*.test.ts', 'simulators/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

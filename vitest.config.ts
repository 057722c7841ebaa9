import { defineConfig } from 'vitest/config';

// Four projects, each with the timeouts its tests need: `npm run test:unit`, `test:integration`,
// `test:chart`, `test:tooling` (or `vitest run --project <name>`); `npm test` runs them all.
export default defineConfig({
  test: {
    // Integration files start their own nats-server, PostgreSQL and app processes; on a 2-core
    // machine running them side by side only makes every one of them slower.
    fileParallelism: false,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 10_000, hookTimeout: 10_000 },
      },
      {
        extends: true,
        // The benchmark's and the stack scripts' own helpers (scripts/lib): not the product, and some
        // read real processes' CPU, so they stay out of `unit`.
        test: { name: 'tooling', include: ['test/tooling/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Fault tests drive 20,000 events through restarts on a shared 2-core machine.
          testTimeout: 180_000,
          hookTimeout: 180_000,
          globalSetup: ['test/setup/build-dist.ts'],
          setupFiles: ['test/setup/logs-on-failure.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'chart',
          include: ['test/chart/**/*.test.ts'],
          // helm renders in a few seconds; scripts.test and nats-auth.test also run the apps.
          testTimeout: 120_000,
          hookTimeout: 180_000,
          globalSetup: ['test/setup/build-dist.ts'],
        },
      },
    ],
  },
});

// `npm run build`: bundles apps/main.ts and its dependencies into dist/apps/, so the runtime image
// needs no node_modules (issue 25: the dependencies' node_modules were ~300 MB of the 580 MB image).
// Also bundles the pg driver alone into dist/node_modules/pg/, for the chart's ConfigMap scripts
// (files/wait-for.cjs), which resolve `pg` from the image's /app/node_modules.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');

const common: BuildOptions = {
  absWorkingDir: ROOT,
  bundle: true,
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  // Paths into the sources are enough for --enable-source-maps stack traces; the sources
  // themselves would triple the maps' size.
  sourcesContent: false,
  // pg requires pg-native only when NODE_PG_FORCE_NATIVE is set or pg.native is read; neither
  // happens here and the package is not installed.
  external: ['pg-native'],
  logLevel: 'warning',
};

rmSync(path.join(DIST, 'apps'), { recursive: true, force: true });
rmSync(path.join(DIST, 'node_modules'), { recursive: true, force: true });

await build({
  ...common,
  entryPoints: ['apps/main.ts'],
  outdir: 'dist/apps',
  format: 'esm',
  // Each command loads only its own code: the Prisma query compiler's WebAssembly (2.6 MB of
  // base64) and the other app stay on disk until a dynamic import asks for them. Chunks land next
  // to main.js, so `new URL('./persist.sql', import.meta.url)` means dist/apps/persist.sql from any of them.
  splitting: true,
  // Fastify, pino, pg and prom-client are CommonJS and require Node's built-ins; an ES module
  // bundle has no `require` of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
copyFileSync(path.join(ROOT, 'apps/consumer/persist.sql'), path.join(DIST, 'apps/persist.sql'));

mkdirSync(path.join(DIST, 'node_modules/pg'), { recursive: true });
await build({
  ...common,
  entryPoints: ['pg'],
  outfile: 'dist/node_modules/pg/index.js',
  format: 'cjs',
  sourcemap: false,
});

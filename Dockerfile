# syntax=docker/dockerfile:1
# Two images from one Dockerfile:
#   runtime (the default target)  node dist/apps/main.js ingest | consumer | dead-letters
#       the apps bundled by esbuild (scripts/bundle.ts): no node_modules, ~8 MB above the Node base
#   migrate (--target migrate)    node dist/apps/main.js migrate
#       the same, plus the Prisma CLI and its engines (~300 MB), for the chart's migration Job only
# The Helm chart (charts/pubsub-aggregator) runs both read-only, non-root, with all capabilities dropped.

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- prisma-base: node + openssl, for whatever runs the Prisma CLI -----------------------------------
FROM ${NODE_IMAGE} AS prisma-base
# openssl: Prisma's CLI probes the libssl version whenever it starts (`prisma generate` in the build,
# `migrate deploy` at run time) and warns without it. Not version-pinned on purpose: the Debian
# security updates of the pinned base image should apply.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# ---- build: all dependencies, Prisma client generation, bundle -> dist/ ------------------------------
FROM prisma-base AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are skipped: the only one that matters (prisma generate) runs in `npm run build`.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json prisma.config.ts ./
COPY prisma ./prisma
COPY shared ./shared
COPY apps ./apps
# `npm run prisma` (the build's `prisma generate`, with the engine settings of apps/migrate/prisma-cli.ts)
# and the bundler.
COPY scripts/prisma.ts scripts/bundle.ts ./scripts/
RUN npm run build

# ---- prod-deps: production dependencies only, for the Prisma CLI of the migrate image ----------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- migrate: the migration Job's image ---------------------------------------------------------------
FROM prisma-base AS migrate
WORKDIR /app
# The Prisma CLI's engine settings come with `migrate` (apps/migrate/prisma-cli.ts sets them where it
# starts the CLI), so none are set here.
ENV NODE_ENV=production \
    HOME=/tmp
COPY --chown=root:root package.json package-lock.json ./
COPY --chown=root:root --from=prod-deps /app/node_modules ./node_modules
COPY --chown=root:root --from=build /app/dist/apps ./dist/apps
# `migrate` runs `prisma migrate deploy`, which reads these at run time.
COPY --chown=root:root prisma ./prisma
COPY --chown=root:root prisma.config.ts ./
COPY --chown=root:root shared/db/pg-pool.ts ./shared/db/pg-pool.ts
USER 1000:1000
ENTRYPOINT ["node"]
CMD ["dist/apps/main.js", "migrate"]

# ---- runtime: ingest, consumer, dead-letters (the default target) -------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp
# Same V8 flags as scripts/lib/apps.ts NODE_FLAGS (bench/RESULTS.md: ~10% faster, less RSS), and
# stack traces through the bundle's source maps, as scripts/lib/apps.ts runs it (errors name apps/ files).
ENV NODE_OPTIONS="--max-semi-space-size=32 --enable-source-maps"
# package.json: "type": "module" makes dist/apps/*.js ES modules.
COPY --chown=root:root package.json ./
COPY --chown=root:root --from=build /app/dist/apps ./dist/apps
# The pg driver alone, for the chart's ConfigMap scripts (files/wait-for.cjs require it from /app).
COPY --chown=root:root --from=build /app/dist/node_modules ./node_modules
# wait-for.cjs (WAIT_FOR=migrations) compares these with _prisma_migrations.
COPY --chown=root:root prisma/migrations ./prisma/migrations
# The files stay owned by root and read-only to the app user (uid 1000, "node").
USER 1000:1000
EXPOSE 8080 9090
ENTRYPOINT ["node"]
CMD ["dist/apps/main.js", "ingest"]

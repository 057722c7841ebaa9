# syntax=docker/dockerfile:1
# One image for every process of pubsub-aggregator:
#   node dist/apps/main.js ingest | consumer | migrate
# The Helm chart (charts/pubsub-aggregator) runs it read-only, non-root, with all capabilities dropped.

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- base: node + openssl, shared by the build and the runtime -------------------------------------
FROM ${NODE_IMAGE} AS base
# openssl: Prisma's CLI probes the libssl version whenever it starts (`prisma generate` in the build,
# `migrate deploy` at run time) and warns without it. Not version-pinned on purpose: the Debian
# security updates of the pinned base image should apply.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# ---- build: all dependencies, Prisma client generation, TypeScript -> dist/ -------------------------
FROM base AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are skipped: the only one that matters (prisma generate) runs in `npm run build`.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY shared ./shared
COPY apps ./apps
# `npm run prisma` (run by the build's `prisma generate`).
COPY scripts/prisma.ts ./scripts/prisma.ts
# Only apps/ and shared/ (and the generated client) are compiled: scripts/ and load/ are local tooling.
RUN npm run build

# ---- prod-deps: production dependencies only ---------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------------------
FROM base AS runtime
WORKDIR /app
# The Prisma CLI's engine settings come with it: `npm run build` (scripts/prisma.ts) and `migrate`
# (apps/migrate/prisma-cli.ts) set them where they start it.
ENV NODE_ENV=production \
    HOME=/tmp
# Same V8 flags as scripts/lib/apps.ts NODE_FLAGS (bench/RESULTS.md: ~10% faster, less RSS).
ENV NODE_OPTIONS=--max-semi-space-size=32
COPY --chown=root:root package.json package-lock.json ./
COPY --chown=root:root --from=prod-deps /app/node_modules ./node_modules
# tsc compiles generated/prisma into dist/generated/prisma, so generated/ itself is not needed.
COPY --chown=root:root --from=build /app/dist ./dist
# `migrate` runs `prisma migrate deploy`, which reads these at run time.
COPY --chown=root:root prisma ./prisma
COPY --chown=root:root prisma.config.ts ./
COPY --chown=root:root shared/db/pg-pool.ts ./shared/db/pg-pool.ts
# The files stay owned by root and read-only to the app user (uid 1000, "node").
USER 1000:1000
EXPOSE 8080 9090
ENTRYPOINT ["node"]
CMD ["dist/apps/main.js", "ingest"]

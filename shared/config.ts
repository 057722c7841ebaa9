import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import envSchema from 'env-schema';
import { Type, type Static, type TObject, type TSchema } from 'typebox';

// The one declaration of every environment variable the processes read: its type, default and
// bounds (validated once at start; a bad value stops the process with an error naming the
// variable, e.g. `env/PORT must be <= 65535`), which process reads it, what it means, and where the
// Helm chart sets it. `npm run gen:config` (scripts/gen-config.ts) writes the README's
// configuration table, the chart's env entries and the values' bounds in values.schema.json from
// it; test/unit/config-outputs.test.ts fails when they are stale. Defaults suit one laptop; the
// chart sets them for a cluster. A process reads only its own variables, and ignores every other
// one in its environment.

/**
 * Where the Helm chart sets a variable:
 * - `value`: the path under `.Values`; the env entry is copied from it and its type and bounds in
 *   values.schema.json are the variable's (`minimum`: a higher lower bound the chart needs, with
 *   the reason beside it);
 * - `template`: the env entry is built by the hand-written `pubsub-aggregator.env.<NAME>`
 *   (templates/_env.tpl) from the values it names; `value`, when given, gets the variable's bounds
 *   (`nullable`: null there means the chart derives it);
 * - `none`: the chart does not set it, and why.
 */
export type ChartSource =
  | { readonly value: string; readonly minimum?: number }
  | { readonly template: string; readonly value?: string; readonly nullable?: true; readonly minimum?: number }
  | { readonly none: string };

export interface Setting<S extends TSchema = TSchema> {
  readonly schema: S;
  readonly chart: ChartSource;
}

const setting = <S extends TSchema>(schema: S, chart: ChartSource): Setting<S> => ({ schema, chart });

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });

const NAME = '^[A-Za-z0-9_-]+$';

/** Read by both ingest and the consumer. */
const common = {
  LOG_LEVEL: setting(
    Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'pino level' },
    ),
    { value: 'config.logLevel' },
  ),
  DATABASE_URL: setting(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL connection URL (`postgresql://…`)' }), {
    template: '`postgresql.*` (built-in) or `externalDatabase.*`',
  }),
  DB_POOL_SIZE: setting(
    Int(
      4,
      1,
      100,
      'PostgreSQL connections held by this process; the consumer opens one more, for the retention purge and the table-size gauges, at the purge interval',
    ),
    { value: 'config.dbPoolSize' },
  ),
  NATS_URL: setting(Type.String({ default: 'nats://127.0.0.1:4222', description: 'comma-separated NATS server URLs' }), {
    template: 'the built-in NATS, or `externalNats.url`',
  }),
  NATS_USER: setting(Type.Optional(Type.String({ description: 'NATS user (the chart gives each process its own)' })), {
    template: 'the built-in NATS users (`nats.auth`), or `externalNats.existingSecret`',
  }),
  NATS_PASSWORD: setting(Type.Optional(Type.String({ description: "the NATS user's password" })), {
    template: 'the built-in NATS users (`nats.auth`), or `externalNats.existingSecret`',
  }),
  STREAM_NAME: setting(
    Type.String({ default: 'EVENTS', pattern: NAME, description: 'the event stream; also names `<STREAM>_COUNTERS` and `<STREAM>_DLQ`' }),
    { value: 'config.stream.name' },
  ),
  // Ingest reads the durable consumer's pending count for /stats.
  CONSUMER_NAME: setting(
    Type.String({ default: 'event-writer', pattern: NAME, description: 'the durable JetStream consumer all consumer processes share' }),
    { value: 'config.consumer.name' },
  ),
  STARTUP_TIMEOUT_MS: setting(Int(120_000, 1_000, 3_600_000, 'give up connecting to NATS (and, for the consumer, PostgreSQL) after this'), {
    value: 'config.startupTimeoutMs',
  }),
  SHUTDOWN_TIMEOUT_MS: setting(Int(10_000, 100, 600_000, 'drain time on SIGTERM; keep below terminationGracePeriodSeconds'), {
    value: 'config.shutdownTimeoutMs',
  }),
  HOST: setting(Type.String({ default: '0.0.0.0', description: 'interface the HTTP server binds to' }), { value: 'config.host' }),
};

const ingest = {
  // The chart's pods run as non-root, which cannot bind below 1024.
  PORT: setting(Int(8080, 0, 65_535, 'HTTP port'), { value: 'ingest.port', minimum: 1024 }),
  // A port of its own lets a NetworkPolicy admit Prometheus without admitting it to the API
  // (and clients narrowed to the API port cannot be told apart from scrapers otherwise).
  METRICS_PORT: setting(Int(0, 0, 65_535, 'also serve `GET /metrics` on this port; 0 = only on `PORT`'), {
    value: 'ingest.metricsPort',
    minimum: 1024,
  }),
  // false keeps /metrics off the API port, so the public ingest Service cannot be used to read the
  // process's internals (topic names are in the labels); it then needs METRICS_PORT.
  METRICS_ON_API_PORT: setting(
    Type.Boolean({ default: true, description: '`false` serves `GET /metrics` on `METRICS_PORT` only, so not through the ingest Service' }),
    { value: 'ingest.metricsOnApiPort' },
  ),
  MAX_BATCH_SIZE: setting(Int(1000, 1, 10_000, 'events per `POST /publish`'), { value: 'ingest.maxBatchSize' }),
  MAX_EVENT_BYTES: setting(Int(65_536, 256, 16 * 1024 * 1024, 'serialized size of one event'), { value: 'ingest.maxEventBytes' }),
  BODY_LIMIT_BYTES: setting(Int(8 * 1024 * 1024, 1024, 256 * 1024 * 1024, 'request body size'), { value: 'ingest.bodyLimitBytes' }),
  // At least BODY_LIMIT_BYTES, or a body at the limit would never be admitted.
  BODY_BUDGET_BYTES: setting(
    Int(
      16 * 1024 * 1024,
      1024,
      4 * 1024 ** 3,
      'request-body bytes being read and handled at once per replica (≥ `BODY_LIMIT_BYTES`); past it a body over 64 KiB gets 503 + `Retry-After: 1` before it is read, smaller ones always pass. A compressed body counts what it inflates to',
    ),
    { value: 'ingest.bodyBudgetBytes' },
  ),
  REQUEST_TIMEOUT_MS: setting(Int(30_000, 100, 600_000, 'whole-request deadline; a slow body gets 408'), {
    value: 'ingest.requestTimeoutMs',
  }),
  PUBLISH_TIMEOUT_MS: setting(Int(5_000, 100, 60_000, 'wait for a PubAck before answering 503'), { value: 'ingest.publishTimeoutMs' }),
  MAX_PUBLISH_IN_FLIGHT: setting(Int(1024, 1, 65_536, 'unacknowledged publishes per process; beyond it requests wait'), {
    value: 'ingest.maxPublishInFlight',
  }),
  // Unset = that scope is open. A token may appear in both lists.
  AUTH_PUBLISH_TOKENS: setting(
    Type.Optional(
      Type.String({
        description:
          'comma-separated bearer tokens allowed to `POST /publish`; unset = open. Missing token 401, token of the other scope 403; health and metrics stay open',
      }),
    ),
    { template: '`auth.*` (a Secret)' },
  ),
  AUTH_PUBLISH_TOKENS_FILE: setting(
    Type.Optional(
      Type.String({ description: 'instead of `AUTH_PUBLISH_TOKENS`: a file (a mounted Secret) with the tokens, one or more per line' }),
    ),
    { none: 'the chart passes the tokens from its Secret as `AUTH_PUBLISH_TOKENS`' },
  ),
  AUTH_READ_TOKENS: setting(
    Type.Optional(Type.String({ description: 'comma-separated bearer tokens allowed to `GET /events` and `/stats`; unset = open' })),
    { template: '`auth.*` (a Secret)' },
  ),
  AUTH_READ_TOKENS_FILE: setting(
    Type.Optional(
      Type.String({ description: 'instead of `AUTH_READ_TOKENS`: a file (a mounted Secret) with the tokens, one or more per line' }),
    ),
    { none: 'the chart passes the tokens from its Secret as `AUTH_READ_TOKENS`' },
  ),
  // The chart's off switch is rateLimit.enabled, so its rateLimit.max starts at 1.
  RATE_LIMIT_MAX: setting(
    Int(
      0,
      0,
      10_000_000,
      'requests per client per window, per replica, counted before auth (a client is its token when it matches a configured one, else its address, so failed logins count); over it 429 with `Retry-After`; probes are never limited. 0 = no limit',
    ),
    { template: '`rateLimit.enabled`, `rateLimit.max`', value: 'rateLimit.max', minimum: 1 },
  ),
  RATE_LIMIT_WINDOW_MS: setting(Int(1_000, 100, 3_600_000, 'rate-limit window'), {
    template: '`rateLimit.enabled`, `rateLimit.windowMs`',
    value: 'rateLimit.windowMs',
  }),
  // Each topic costs a counter row in PostgreSQL and a counter subject in NATS, kept for good.
  MAX_TOPICS: setting(Int(10_000, 1, 1_000_000, 'distinct topics; an event of a new topic past it is refused (422)'), {
    value: 'ingest.maxTopics',
  }),
  STATS_TOP_TOPICS: setting(Int(100, 1, 1_000, 'topics listed in `/stats`, the busiest first (`GET /stats/topics` lists all)'), {
    value: 'ingest.statsTopTopics',
  }),
  EVENTS_MAX_BYTES: setting(
    Int(
      4 * 1024 * 1024,
      65_536,
      256 * 1024 * 1024,
      'bytes of events in one `GET /events` page; it ends early past it, with a `Link` to the rest',
    ),
    { value: 'ingest.eventsMaxBytes' },
  ),
  EVENTS_MAX_CONCURRENT: setting(Int(4, 1, 1_000, '`GET /events` reads served at once per replica; beyond it 503 + `Retry-After`'), {
    value: 'ingest.eventsMaxConcurrent',
  }),
  // One client's share of them, keyed like the rate limit (its token, else its address): clients
  // that stop reading could otherwise hold every slot. Above EVENTS_MAX_CONCURRENT it changes nothing.
  EVENTS_MAX_CONCURRENT_PER_CLIENT: setting(
    Int(
      2,
      1,
      1_000,
      '`GET /events` reads served at once per client per replica (a client: its token, else its address per `TRUST_PROXY`; behind a NodePort or an unnamed ingress all clients share one address); beyond it 503 + `Retry-After`',
    ),
    { value: 'ingest.eventsMaxConcurrentPerClient' },
  ),
  // A read's slot is held until its reply has left the process; past this it is aborted.
  EVENTS_WRITE_TIMEOUT_MS: setting(
    Int(30_000, 1_000, 600_000, 'a `GET /events` reply not written out within this is aborted and its slot freed'),
    {
      value: 'ingest.eventsWriteTimeoutMs',
    },
  ),
  // Whose address a request comes from (rate-limit key, logs). Off by default: X-Forwarded-For is
  // whatever the client wrote unless a proxy we trust set it. See parseTrustProxy.
  TRUST_PROXY: setting(
    Type.String({
      default: 'false',
      description:
        '`false`: the address is the TCP peer, `X-Forwarded-For` is ignored. A comma-separated list of addresses/CIDRs (or `loopback`, `linklocal`, `uniquelocal`) names the proxies in front; the client is the nearest address in `X-Forwarded-For` that is not one of them. `true` trusts every hop',
    }),
    { value: 'ingest.trustProxy' },
  ),
};

/** The consumer creates the streams and the durable consumer, so their settings are its own. */
const consumer = {
  PORT: setting(Int(9090, 0, 65_535, 'HTTP port for `/healthz`, `/readyz`, `/metrics`'), { value: 'consumer.port', minimum: 1024 }),
  STREAM_REPLICAS: setting(Int(1, 1, 5, 'JetStream replicas: 3 in a 3-node cluster makes a PubAck mean "on a quorum"'), {
    template: '`config.stream.replicas`, else `nats.replicas` or `externalNats.streamReplicas`',
    value: 'config.stream.replicas',
    nullable: true,
  }),
  STREAM_DUPLICATE_WINDOW_MS: setting(
    Int(120_000, 100, 7 * 86_400_000, 'broker-side dedup window for `Nats-Msg-Id`; the database catches later duplicates'),
    {
      value: 'config.stream.duplicateWindowMs',
    },
  ),
  // The event stream is a bounded buffer between ingest and PostgreSQL (work-queue retention: an
  // event leaves it once committed). No age limit: one would delete events not yet stored. At the
  // cap JetStream refuses new events (discard New) and ingest answers 503 + Retry-After.
  // nats-server reserves this, plus DLQ_MAX_BYTES, out of its max_file_store when the streams are
  // created, so both must fit there with room for the counter stream.
  STREAM_MAX_BYTES: setting(
    Type.Integer({
      default: 1024 ** 3,
      minimum: 1024 ** 2,
      maximum: 2 ** 50,
      description:
        'byte cap of the event stream: the buffer of events accepted but not yet stored; at the cap, 503 + `Retry-After` ([Bounded storage](#bounded-storage))',
    }),
    {
      template: '`config.stream.maxBytes`, else what `nats.jetstream.fileStore.maxSize` leaves',
      value: 'config.stream.maxBytes',
      nullable: true,
    },
  ),
  DLQ_MAX_BYTES: setting(
    Type.Integer({
      default: 256 * 1024 ** 2,
      minimum: 1024 ** 2,
      maximum: 2 ** 50,
      description: 'byte cap of the dead-letter stream; nothing in it expires (full = dead-lettering waits and the buffer fills behind it)',
    }),
    { value: 'config.stream.deadLetterMaxBytes' },
  ),
  CONSUMER_MAX_DELIVER: setting(Int(10, 2, 1000, 'deliveries before a message is dead-lettered'), { value: 'config.consumer.maxDeliver' }),
  CONSUMER_ACK_WAIT_MS: setting(Int(30_000, 1_000, 600_000, 'must exceed the slowest batch commit'), {
    value: 'config.consumer.ackWaitMs',
  }),
  CONSUMER_MAX_ACK_PENDING: setting(Int(20_000, 1, 1_000_000, 'unacked messages across all consumer processes'), {
    value: 'config.consumer.maxAckPending',
  }),
  BATCH_SIZE: setting(Int(500, 1, 5_000, 'messages persisted per transaction'), { value: 'consumer.batchSize' }),
  CONSUMER_CONCURRENCY: setting(Int(2, 1, 32, 'batches persisted in parallel by this process'), { value: 'consumer.concurrency' }),
  // 50 cut server CPU per event ~12% with one event per request, for ~15 ms more accept→commit
  // (bench/RESULTS.md).
  BATCH_LINGER_MS: setting(Int(20, 0, 1_000, 'wait this long for a partial batch to fill (adds at most this to latency)'), {
    value: 'consumer.batchLingerMs',
  }),
  // With the defaults the 10 permitted deliveries span ~56 s, so a lock or statement timeout
  // lasting seconds is outlived instead of dead-lettered within a second.
  CONSUMER_RETRY_DELAY_MS: setting(
    Int(500, 0, 600_000, 'a message PostgreSQL refuses is redelivered after this delay, doubled per delivery up to the cap'),
    {
      value: 'consumer.retryDelayMs',
    },
  ),
  CONSUMER_RETRY_DELAY_MAX_MS: setting(Int(10_000, 0, 3_600_000, 'cap of the doubling redelivery delay (≥ `CONSUMER_RETRY_DELAY_MS`)'), {
    value: 'consumer.retryDelayMaxMs',
  }),
  // Deleting history is the operator's decision, never an upgrade's side effect: 0 by default.
  EVENTS_RETENTION_MS: setting(
    Int(
      0,
      0,
      100 * 365 * 86_400_000,
      'delete stored events (and duplicate records) older than this; 0 = keep forever. Exactly once then holds within this horizon ([Bounded storage](#bounded-storage))',
    ),
    { value: 'consumer.retentionMs' },
  ),
  RETENTION_PURGE_INTERVAL_MS: setting(
    Int(60_000, 100, 86_400_000, 'how often one consumer replica purges what retention lets go (rows live up to retention + this)'),
    { value: 'consumer.purgeIntervalMs' },
  ),
  // 5,000 rows per statement: 18-24 ms each on a 10 M-row table (bench/RESULTS.md), so a re-sent
  // event whose old row is being deleted waits at most that long.
  RETENTION_BATCH_ROWS: setting(Int(5_000, 1, 100_000, 'rows deleted per statement (per table)'), { value: 'consumer.purgeBatchRows' }),
  RETENTION_BATCH_PAUSE_MS: setting(Int(100, 0, 60_000, 'pause between two purge statements, leaving PostgreSQL to the writers'), {
    value: 'consumer.purgeBatchPauseMs',
  }),
  PERSIST_MODE: setting(
    Type.Union([Type.Literal('batch'), Type.Literal('per-event')], {
      default: 'batch',
      description: '`per-event` writes one event per transaction (the benchmark baseline)',
    }),
    { value: 'consumer.persistMode' },
  ),
};

/** `migrate`: the schema migration, then (optionally) the application's own PostgreSQL role. */
const migrate = {
  DATABASE_URL: common.DATABASE_URL,
  // The role ingest and consumer log in as: a non-superuser with row access only. Created (or
  // its password and grants refreshed) after every migration, so it also reaches databases whose
  // initdb scripts ran long ago. Unset = the apps use DATABASE_URL's user.
  APP_DB_USER: setting(
    Type.Optional(
      Type.String({
        pattern: '^[a-z_][a-z0-9_]{0,62}$',
        description: 'after migrating, create or update this non-superuser role with row access (SELECT, INSERT, UPDATE) for the apps',
      }),
    ),
    { template: '`postgresql.auth.appUsername` (built-in PostgreSQL only)' },
  ),
  APP_DB_PASSWORD: setting(Type.Optional(Type.String({ minLength: 8, description: "that role's password (set with `APP_DB_USER`)" })), {
    template: '`postgresql.auth` (a Secret; built-in PostgreSQL only)',
  }),
};

/**
 * `dead-letters`: the operator's tool for the dead-letter stream (apps/dead-letters/cli.ts). NATS
 * only, as its own user (`dead-letters` in the built-in NATS): it never touches PostgreSQL.
 */
const deadLetters = {
  LOG_LEVEL: common.LOG_LEVEL,
  NATS_URL: common.NATS_URL,
  NATS_USER: common.NATS_USER,
  NATS_PASSWORD: common.NATS_PASSWORD,
  // Keeps the password off command lines and out of the environment of the pod it runs in.
  NATS_PASSWORD_FILE: setting(
    Type.Optional(
      Type.String({
        description: 'a file holding `NATS_PASSWORD` (a mounted Secret, or `/dev/stdin` under `kubectl exec -i`); not together with it',
      }),
    ),
    { none: 'the Job gets `NATS_PASSWORD` from the Secret' },
  ),
  STREAM_NAME: common.STREAM_NAME,
  PUBLISH_TIMEOUT_MS: setting(
    Int(10_000, 100, 600_000, '`dead-letters replay`: wait this long for the event stream to acknowledge each replayed event'),
    {
      value: 'deadLetters.job.publishTimeoutMs',
    },
  ),
};

/** Every process's variables, by the `main.js` command that runs it. */
export const SETTINGS = {
  ingest: { ...common, ...ingest },
  consumer: { ...common, ...consumer },
  migrate,
  'dead-letters': deadLetters,
} as const;
export type App = keyof typeof SETTINGS;

type Schemas<G extends Record<string, Setting>> = { -readonly [K in keyof G]: G[K]['schema'] };
const objectOf = <G extends Record<string, Setting>>(group: G): TObject<Schemas<G>> =>
  Type.Object(Object.fromEntries(Object.entries(group).map(([name, s]) => [name, s.schema])) as Schemas<G>);

export const IngestConfigSchema = objectOf(SETTINGS.ingest);
export const ConsumerAppConfigSchema = objectOf(SETTINGS.consumer);
export const MigrateConfigSchema = objectOf(SETTINGS.migrate);
export const DeadLettersConfigSchema = objectOf(SETTINGS['dead-letters']);
export type IngestConfig = Static<typeof IngestConfigSchema>;
/** The consumer process's settings (not to be confused with JetStream's `ConsumerConfig` of a durable). */
export type ConsumerAppConfig = Static<typeof ConsumerAppConfigSchema>;
export type MigrateConfig = Static<typeof MigrateConfigSchema>;
export type DeadLettersConfig = Static<typeof DeadLettersConfigSchema>;
/** What ingest and the consumer both read. */
export type CommonConfig = Static<TObject<Schemas<typeof common>>>;

function load<T extends TSchema>(schema: T, data: Record<string, unknown>): Static<T> {
  return envSchema<Static<T>>({ schema: schema as object, data, env: false, dotenv: false });
}

/** Validated ingest config from `env` (process.env by default); throws naming the bad variable. */
export function loadIngestConfig(env: Record<string, unknown> = process.env): IngestConfig {
  const config = load(IngestConfigSchema, env);
  parseTrustProxy(config.TRUST_PROXY);
  if (config.BODY_BUDGET_BYTES < config.BODY_LIMIT_BYTES) throw new Error('env/BODY_BUDGET_BYTES must be >= BODY_LIMIT_BYTES');
  if (!config.METRICS_ON_API_PORT && config.METRICS_PORT === 0) {
    throw new Error('env/METRICS_ON_API_PORT=false needs env/METRICS_PORT, or /metrics would be served nowhere');
  }
  return config;
}

export function loadConsumerConfig(env: Record<string, unknown> = process.env): ConsumerAppConfig {
  const config = load(ConsumerAppConfigSchema, env);
  if (config.CONSUMER_RETRY_DELAY_MAX_MS < config.CONSUMER_RETRY_DELAY_MS) {
    throw new Error('env/CONSUMER_RETRY_DELAY_MAX_MS must be >= CONSUMER_RETRY_DELAY_MS');
  }
  return config;
}

const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY as Fastify's `trustProxy`: `false` (default) ignores X-Forwarded-For; a
 * comma-separated list of addresses, CIDRs or `loopback`/`linklocal`/`uniquelocal` names the
 * proxies in front of us, and the client is the nearest address in the header that is not one of
 * them (a client cannot forge what our proxy appended); `true` trusts every hop, so the leftmost
 * address, which a client can forge unless the proxy in front overwrites the header. No hop
 * count: Fastify 5.12 ignores X-Forwarded-For for a number (it cannot check the peer is a proxy).
 */
export function parseTrustProxy(value: string): boolean | string[] {
  const v = value.trim();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  const list = v.split(',').map((s) => s.trim());
  for (const item of list) {
    const [addr = '', prefix, extra] = item.split('/');
    const family = isIP(addr);
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (!(PROXY_RANGES.has(item) || (family !== 0 && prefixOk && extra === undefined))) {
      throw new Error(`env/TRUST_PROXY: "${item}" is not true, false, an IP address, a CIDR, loopback, linklocal or uniquelocal`);
    }
  }
  return list;
}

/** Validated config of `main.js migrate`; throws naming the bad variable. */
export function loadMigrateConfig(env: Record<string, unknown> = process.env): MigrateConfig {
  const config = load(MigrateConfigSchema, env);
  if (Boolean(config.APP_DB_USER) !== Boolean(config.APP_DB_PASSWORD)) {
    throw new Error('env/APP_DB_USER and env/APP_DB_PASSWORD must be set together');
  }
  return config;
}

/** Validated config of `main.js dead-letters`, NATS_PASSWORD_FILE read into NATS_PASSWORD; throws naming the variable. */
export function loadDeadLettersConfig(env: Record<string, unknown> = process.env): DeadLettersConfig {
  const config = load(DeadLettersConfigSchema, env);
  if (config.NATS_PASSWORD_FILE === undefined) return config;
  if (config.NATS_PASSWORD !== undefined) throw new Error('env/NATS_PASSWORD and env/NATS_PASSWORD_FILE: set only one');
  let password: string;
  try {
    password = readFileSync(config.NATS_PASSWORD_FILE, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`env/NATS_PASSWORD_FILE: cannot read ${config.NATS_PASSWORD_FILE}: ${(err as Error).message}`, { cause: err });
  }
  if (password === '') throw new Error(`env/NATS_PASSWORD_FILE: ${config.NATS_PASSWORD_FILE} is empty`);
  return { ...config, NATS_PASSWORD: password };
}

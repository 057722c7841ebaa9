import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import envSchema from 'env-schema';
import { Type, type Static, type TSchema } from 'typebox';

// Every knob is an env var, validated once at start; a bad value stops the process with an error
// naming the variable (e.g. `env/PORT must be <= 65535`). Defaults suit one laptop; the Helm chart
// sets them for a cluster.

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });

const common = {
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL connection URL' }),
  DB_POOL_SIZE: Int(4, 1, 100, 'PostgreSQL connections held by this process'),
  NATS_URL: Type.String({ default: 'nats://127.0.0.1:4222', description: 'comma-separated NATS server URLs' }),
  NATS_USER: Type.Optional(Type.String()),
  NATS_PASSWORD: Type.Optional(Type.String()),
  STREAM_NAME: Type.String({ default: 'EVENTS', pattern: '^[A-Za-z0-9_-]+$' }),
  STREAM_REPLICAS: Int(1, 1, 5, 'JetStream replicas: 3 in a 3-node cluster makes a PubAck mean "on a quorum"'),
  STREAM_DUPLICATE_WINDOW_MS: Int(120_000, 100, 7 * 86_400_000, 'broker-side dedup window for Nats-Msg-Id'),
  // The event stream is a bounded buffer between ingest and PostgreSQL (work-queue retention: an
  // event leaves it once committed). No age limit: one would delete events not yet stored. At the
  // cap JetStream refuses new events (discard New) and ingest answers 503 + Retry-After.
  // nats-server reserves this, plus DLQ_MAX_BYTES, out of its max_file_store when the streams are
  // created, so both must fit there with room for the counter stream.
  STREAM_MAX_BYTES: Type.Integer({
    default: 1024 ** 3,
    minimum: 1024 ** 2,
    maximum: 2 ** 50,
    description: 'byte cap of the event stream (the buffer of events accepted but not yet stored)',
  }),
  DLQ_MAX_BYTES: Type.Integer({
    default: 256 * 1024 ** 2,
    minimum: 1024 ** 2,
    maximum: 2 ** 50,
    description: 'byte cap of the dead-letter stream; nothing in it expires (full = dead-lettering waits)',
  }),
  CONSUMER_NAME: Type.String({ default: 'event-writer', pattern: '^[A-Za-z0-9_-]+$' }),
  CONSUMER_MAX_DELIVER: Int(10, 2, 1000, 'deliveries before a message is dead-lettered'),
  CONSUMER_ACK_WAIT_MS: Int(30_000, 1_000, 600_000, 'must exceed the slowest batch commit'),
  CONSUMER_MAX_ACK_PENDING: Int(20_000, 1, 1_000_000, 'unacked messages across all consumer processes'),
  STARTUP_TIMEOUT_MS: Int(120_000, 1_000, 3_600_000, 'give up connecting to NATS (and, for the consumer, PostgreSQL) after this'),
  SHUTDOWN_TIMEOUT_MS: Int(10_000, 100, 600_000, 'drain time on SIGTERM; keep below terminationGracePeriodSeconds'),
  HOST: Type.String({ default: '0.0.0.0' }),
};

const ingest = {
  ...common,
  PORT: Int(8080, 0, 65_535, 'HTTP port'),
  // A port of its own lets a NetworkPolicy admit Prometheus without admitting it to the API
  // (and clients narrowed to the API port cannot be told apart from scrapers otherwise).
  METRICS_PORT: Int(0, 0, 65_535, 'also serve GET /metrics on this port; 0 = only on PORT'),
  // false keeps /metrics off the API port, so the public ingest Service cannot be used to read the
  // process's internals (topic names are in the labels); it then needs METRICS_PORT.
  METRICS_ON_API_PORT: Type.Boolean({ default: true, description: 'serve GET /metrics on PORT too' }),
  MAX_BATCH_SIZE: Int(1000, 1, 10_000, 'events per POST /publish'),
  MAX_EVENT_BYTES: Int(65_536, 256, 16 * 1024 * 1024, 'serialized size of one event'),
  BODY_LIMIT_BYTES: Int(8 * 1024 * 1024, 1024, 256 * 1024 * 1024, 'request body size'),
  // Request-body bytes in flight per replica; past it, a body over 64 KiB gets 503 + Retry-After
  // before it is read. At least BODY_LIMIT_BYTES, or a body at the limit would never be admitted.
  BODY_BUDGET_BYTES: Int(16 * 1024 * 1024, 1024, 4 * 1024 ** 3, 'request-body bytes in flight per replica'),
  REQUEST_TIMEOUT_MS: Int(30_000, 100, 600_000, 'whole-request deadline (slow bodies get 408)'),
  PUBLISH_TIMEOUT_MS: Int(5_000, 100, 60_000, 'wait for a PubAck before answering 503'),
  MAX_PUBLISH_IN_FLIGHT: Int(1024, 1, 65_536, 'unacknowledged publishes per process; beyond it requests wait'),
  // Bearer tokens, comma-separated (or *_FILE: a mounted Secret file, one or more per line).
  // Unset = that scope is open. A token may appear in both lists.
  AUTH_PUBLISH_TOKENS: Type.Optional(Type.String({ description: 'tokens allowed to POST /publish' })),
  AUTH_PUBLISH_TOKENS_FILE: Type.Optional(Type.String()),
  AUTH_READ_TOKENS: Type.Optional(Type.String({ description: 'tokens allowed to GET /events and /stats' })),
  AUTH_READ_TOKENS_FILE: Type.Optional(Type.String()),
  RATE_LIMIT_MAX: Int(0, 0, 10_000_000, 'requests per client per window; 0 = no limit'),
  RATE_LIMIT_WINDOW_MS: Int(1_000, 100, 3_600_000, 'rate-limit window'),
  // Each topic costs a counter row in PostgreSQL and a counter subject in NATS, kept for good.
  MAX_TOPICS: Int(10_000, 1, 1_000_000, 'distinct topics; an event of a new topic past it is refused (422)'),
  STATS_TOP_TOPICS: Int(100, 1, 1_000, 'topics listed in /stats, the busiest first (GET /stats/topics lists all)'),
  EVENTS_MAX_BYTES: Int(4 * 1024 * 1024, 65_536, 256 * 1024 * 1024, 'bytes of events in one GET /events page; a page ends early past it'),
  EVENTS_MAX_CONCURRENT: Int(4, 1, 1_000, 'GET /events reads served at once per replica; beyond it 503 + Retry-After'),
  // One client's share of them, keyed like the rate limit (its token, else its address): clients
  // that stop reading could otherwise hold every slot. Above EVENTS_MAX_CONCURRENT it changes nothing.
  EVENTS_MAX_CONCURRENT_PER_CLIENT: Int(2, 1, 1_000, 'GET /events reads served at once per client per replica'),
  // A read's slot is held until its reply has left the process; past this it is aborted.
  EVENTS_WRITE_TIMEOUT_MS: Int(30_000, 1_000, 600_000, 'a GET /events reply not written out within this is aborted'),
  // Whose address a request comes from (rate-limit key, logs). Off by default: X-Forwarded-For is
  // whatever the client wrote unless a proxy we trust set it. See parseTrustProxy.
  TRUST_PROXY: Type.String({ default: 'false', description: "false, true, or the proxies' addresses/CIDRs" }),
};

const consumer = {
  ...common,
  PORT: Int(9090, 0, 65_535, 'HTTP port for /healthz, /readyz, /metrics'),
  BATCH_SIZE: Int(500, 1, 5_000, 'messages persisted per transaction'),
  CONSUMER_CONCURRENCY: Int(2, 1, 32, 'batches persisted in parallel by this process'),
  BATCH_LINGER_MS: Int(20, 0, 1_000, 'wait this long for a partial batch to fill (adds at most this to latency)'),
  // A message PostgreSQL refuses is redelivered after this delay, doubled per delivery up to the
  // cap: with the defaults the 10 permitted deliveries span ~56 s, so a lock or statement timeout
  // lasting seconds is outlived instead of dead-lettered within a second.
  CONSUMER_RETRY_DELAY_MS: Int(500, 0, 600_000, 'redelivery delay after the first refusal by PostgreSQL'),
  CONSUMER_RETRY_DELAY_MAX_MS: Int(10_000, 0, 3_600_000, 'cap of the doubling redelivery delay'),
  // Retention of stored events (apps/consumer/retention.ts). 0 keeps everything, as every release
  // before it did: deleting history is the operator's decision, never an upgrade's side effect.
  EVENTS_RETENTION_MS: Int(0, 0, 100 * 365 * 86_400_000, 'delete stored events (and duplicate records) older than this; 0 = keep forever'),
  RETENTION_PURGE_INTERVAL_MS: Int(60_000, 100, 86_400_000, 'how often one consumer replica purges what retention lets go'),
  // 5,000 rows per statement: 18-24 ms each on a 10 M-row table here (bench/RESULTS.md), so a re-sent event
  // whose old row is being deleted waits at most that long.
  RETENTION_BATCH_ROWS: Int(5_000, 1, 100_000, 'rows deleted per statement (per table)'),
  RETENTION_BATCH_PAUSE_MS: Int(100, 0, 60_000, 'pause between two purge statements, leaving PostgreSQL to the writers'),
  PERSIST_MODE: Type.Union([Type.Literal('batch'), Type.Literal('per-event')], {
    default: 'batch',
    description: 'per-event writes one event per transaction (the benchmark baseline)',
  }),
};

// `migrate`: the schema migration, then (optionally) the application's own PostgreSQL role.
const migrate = {
  DATABASE_URL: common.DATABASE_URL,
  // The role ingest and consumer log in as: a non-superuser with row access only. Created (or
  // its password and grants refreshed) after every migration, so it also reaches databases whose
  // initdb scripts ran long ago. Unset = the apps use DATABASE_URL's user.
  APP_DB_USER: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', description: 'PostgreSQL role for the apps' })),
  APP_DB_PASSWORD: Type.Optional(Type.String({ minLength: 8, description: 'its password' })),
};

// `dead-letters`: the operator's tool for the dead-letter stream (apps/dead-letters/cli.ts). NATS
// only, as its own user (`dead-letters` in the built-in NATS): it never touches PostgreSQL.
const deadLetters = {
  LOG_LEVEL: common.LOG_LEVEL,
  NATS_URL: common.NATS_URL,
  NATS_USER: common.NATS_USER,
  NATS_PASSWORD: common.NATS_PASSWORD,
  // A file holding the password (a mounted Secret, or /dev/stdin under `kubectl exec -i`): kept off
  // command lines and out of the environment of the pod it runs in.
  NATS_PASSWORD_FILE: Type.Optional(Type.String({ description: 'file holding NATS_PASSWORD' })),
  STREAM_NAME: common.STREAM_NAME,
  PUBLISH_TIMEOUT_MS: Int(10_000, 100, 600_000, 'wait this long for the event stream to acknowledge a replayed event'),
};

export const IngestConfigSchema = Type.Object(ingest);
export const DeadLettersConfigSchema = Type.Object(deadLetters);
export type DeadLettersConfig = Static<typeof DeadLettersConfigSchema>;
export const ConsumerConfigSchema = Type.Object(consumer);
export const MigrateConfigSchema = Type.Object(migrate);
export type MigrateConfig = Static<typeof MigrateConfigSchema>;
export type IngestConfig = Static<typeof IngestConfigSchema>;
export type ConsumerConfig = Static<typeof ConsumerConfigSchema>;
export type CommonConfig = Static<ReturnType<typeof Type.Object<typeof common>>>;

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

export function loadConsumerConfig(env: Record<string, unknown> = process.env): ConsumerConfig {
  const config = load(ConsumerConfigSchema, env);
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

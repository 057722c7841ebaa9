// The bench's modes: a workload shape (events per request, clients) and the settings the apps run
// with. `batched@REF` is a mode run on the stack built from another commit (--against).

export interface Mode {
  name: string;
  batchSize: number;
  concurrency: number;
  consumerEnv: Record<string, string>;
  /** Set for ingest (and, in consumerEnv, for the consumer) by an A/B variant (modeNamed). */
  appEnv?: Record<string, string>;
  /** Events go to scripts/lib/floor-server.ts instead of ingest (the consumer stores them as usual). */
  floor?: boolean;
  /** Request bodies are sent gzip-compressed. */
  gzip?: boolean;
  /** The git ref (as given to --against) whose build runs this mode; this tree's build when unset. */
  ref?: string;
  description: string;
}

export const MODES: Record<string, Mode> = {
  batched: {
    name: 'batched',
    batchSize: 100,
    concurrency: 16,
    consumerEnv: {},
    description: '100 events/request, 16 clients, batched consumer',
  },
  // The same batches from fewer clients: with 16 clients × 100 events in flight, Little's law puts
  // the mean request latency at 1,600 / throughput (~95 ms at 17k events/s), so request latency
  // is read here, at the same throughput with less queueing.
  'batched-4': {
    name: 'batched-4',
    batchSize: 100,
    concurrency: 4,
    consumerEnv: {},
    description: '100 events/request, 4 clients, batched consumer',
  },
  // The batched mode with every body gzip-compressed: what inflating costs ingest per event.
  'batched-gzip': {
    name: 'batched-gzip',
    batchSize: 100,
    concurrency: 16,
    consumerEnv: {},
    gzip: true,
    description: '100 events/request gzip-compressed (Content-Encoding: gzip), 16 clients, batched consumer',
  },
  single: { name: 'single', batchSize: 1, concurrency: 16, consumerEnv: {}, description: '1 event/request, 16 clients, batched consumer' },
  // What the design costs before ingest does anything of its own: the single mode with ingest
  // replaced by a bare node:http server that publishes each event with its Nats-Msg-Id and answers
  // after the PubAck. It does not count broker duplicates: exact means every row, counted once.
  floor: {
    name: 'floor',
    batchSize: 1,
    concurrency: 16,
    consumerEnv: {},
    floor: true,
    description: '1 event/request, 16 clients, ingest replaced by the bare floor server (scripts/lib/floor-server.ts)',
  },
  // Named for what it does rather than "baseline": the bench's A/B reference is another commit
  // (`--against`), and this mode is only the slowest way to store the same events.
  'per-event': {
    name: 'per-event',
    batchSize: 100,
    concurrency: 16,
    consumerEnv: { PERSIST_MODE: 'per-event', CONSUMER_CONCURRENCY: '1' },
    description: '100 events/request, consumer writing one event per transaction (what the previous service did)',
  },
};

export const DEFAULT_MODES = 'batched,batched-4,single,floor,per-event';

/**
 * A mode, or an A/B variant of one: `single+BATCH_LINGER_MS=50+PUBLISH_LINGER_MS=1` is the single
 * mode with those variables set for both apps, taking its turn with the others like any mode.
 */
export function modeNamed(spec: string): Mode {
  const [name, ...settings] = spec.split('+');
  const mode = MODES[name!];
  if (!mode) throw new Error(`unknown mode ${name} (known: ${Object.keys(MODES).join(', ')})`);
  const env = Object.fromEntries(
    settings.map((kv) => {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(kv);
      if (!m) throw new Error(`--modes ${spec}: "${kv}" is not NAME=VALUE`);
      return [m[1]!, m[2]!];
    }),
  );
  if (settings.length === 0) return mode;
  return { ...mode, name: spec, appEnv: env, consumerEnv: { ...mode.consumerEnv, ...env } };
}

/**
 * The mode run on the build of `ref`, named `<mode>@<ref>`. The floor mode has no counterpart: its
 * server is this tree's tooling whatever the ref, so it would measure this tree twice.
 */
export function atRef(mode: Mode, ref: string): Mode | undefined {
  if (mode.floor) return undefined;
  return { ...mode, name: `${mode.name}@${ref}`, ref };
}

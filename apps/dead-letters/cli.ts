// `node dist/apps/main.js dead-letters list|show|replay|purge`: the operator's tool for the
// dead-letter stream, run with `kubectl exec` in a consumer pod or as the chart's Job
// (docs/operations.md, docs/kubernetes.md). Its output is the audit trail: one line per message
// replayed or skipped, and the totals.
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadDeadLettersConfig } from '../../shared/config.ts';
import { TOPIC_PATTERN } from '../../shared/event.ts';
import { DeadLetters, type DeadLetter, type Selection } from './dead-letters.ts';

/** Its replies (message gets, PubAcks) arrive under a prefix of its own: the NATS user may read only those. */
export const DEAD_LETTERS_INBOX_PREFIX = '_INBOX_deadletters';

export const USAGE = `usage: main.js dead-letters <command> [--json]
  list [--topic T] [--from SEQ] [--limit N]   the dead letters, oldest first (N: default 100)
  show SEQ                                    one, with its event as stored
  replay (--seq SEQ | --topic T | --all) [--keep]
                                              publish again to the event stream, then delete from the
                                              dead-letter stream (--keep: leave them there)
  purge (--seq SEQ | --topic T | --all)       delete without replaying; prints how many
env: NATS_URL, NATS_USER, NATS_PASSWORD or NATS_PASSWORD_FILE, STREAM_NAME, PUBLISH_TIMEOUT_MS`;

/** What `list --json` prints: a page of dead letters (without their bytes: `show` has them). */
export interface DeadLetterList {
  held: number;
  dead_lettered: number;
  items: Array<Omit<DeadLetter, 'data'>>;
  /** Where the next page starts (`--from`), null on the last page. */
  next: number | null;
}

class UsageError extends Error {}

const positiveInt = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^[1-9]\d{0,15}$/.test(v)) throw new UsageError(`${name} must be a positive integer (got "${v}")`);
  return Number(v);
};

function selection(v: { seq?: string; topic?: string; all?: boolean }): Selection {
  const given = [v.seq !== undefined, v.topic !== undefined, v.all === true].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give exactly one of --seq SEQ, --topic T, --all');
  if (v.seq !== undefined) return { seq: positiveInt('--seq', v.seq)! };
  if (v.topic !== undefined) return { topic: topicArg(v.topic) };
  return { all: true };
}

function topicArg(t: string): string {
  if (!new RegExp(TOPIC_PATTERN).test(t) || t.length > 255) throw new UsageError(`--topic: "${t}" is not a topic`);
  return t;
}

const describe = (s: Selection) => ('seq' in s ? `seq ${s.seq}` : 'topic' in s ? `topic ${s.topic}` : 'all');

function row(d: DeadLetter): string {
  return [d.seq, d.time, d.topic, d.event_id ?? '-', d.stream_seq ?? '-', d.deliveries ?? '-', d.reason].join('\t');
}

/** Runs one command; returns the exit code (0 done, 1 not everything done, 2 usage). */
export async function runDeadLetters(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        seq: { type: 'string' },
        topic: { type: 'string' },
        all: { type: 'boolean' },
        keep: { type: 'boolean' },
        from: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (v.help) {
    out(USAGE);
    return 0;
  }
  let op: (dl: DeadLetters) => Promise<number>;
  try {
    op = operation(command, rest, v, out);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  const config = loadDeadLettersConfig();
  const nc = await connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name: 'dead-letters',
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
    inboxPrefix: DEAD_LETTERS_INBOX_PREFIX,
    // An operator's command: fail within seconds rather than retry in the background.
    maxReconnectAttempts: 2,
    timeout: 10_000,
  });
  try {
    const dl = new DeadLetters(await jetstreamManager(nc), jetstream(nc), config.STREAM_NAME, config.PUBLISH_TIMEOUT_MS);
    return await op(dl);
  } finally {
    await nc.close();
  }
}

function operation(
  command: string | undefined,
  rest: string[],
  v: { json?: boolean; seq?: string; topic?: string; all?: boolean; keep?: boolean; from?: string; limit?: string },
  out: (line: string) => void,
): (dl: DeadLetters) => Promise<number> {
  const json = v.json === true;
  const noExtra = () => {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  };
  switch (command) {
    case 'list': {
      noExtra();
      const limit = positiveInt('--limit', v.limit) ?? 100;
      const from = positiveInt('--from', v.from);
      const topic = v.topic === undefined ? undefined : topicArg(v.topic);
      return async (dl) => {
        const [counts, page] = await Promise.all([dl.counts(), dl.list({ from, limit, topic })]);
        if (json) {
          out(
            JSON.stringify({
              held: counts.held,
              dead_lettered: counts.dead_lettered,
              items: page.items.map(({ data: _d, ...d }) => d),
              next: page.next ?? null,
            } satisfies DeadLetterList),
          );
          return 0;
        }
        out(`${dl.dlqStream}: ${counts.held} held (${counts.bytes} B), ${counts.dead_lettered} dead-lettered since the stream was created`);
        out(['SEQ', 'DEAD-LETTERED', 'TOPIC', 'EVENT_ID', 'STREAM_SEQ', 'DELIVERIES', 'REASON'].join('\t'));
        for (const d of page.items) out(row(d));
        if (page.next !== undefined) out(`more: list --from ${page.next}${topic ? ` --topic ${topic}` : ''}`);
        return 0;
      };
    }
    case 'show': {
      if (rest.length !== 1) throw new UsageError('show takes one SEQ');
      const seq = positiveInt('SEQ', rest[0])!;
      return async (dl) => {
        const d = await dl.show(seq);
        if (!d) {
          console.error(`no dead letter with seq ${seq} in ${dl.dlqStream}`);
          return 1;
        }
        if (json) out(JSON.stringify(d));
        else {
          const { data, ...fields } = d;
          for (const [k, val] of Object.entries(fields)) out(`${k}: ${val ?? '-'}`);
          out('data:');
          out(data);
        }
        return 0;
      };
    }
    case 'replay': {
      noExtra();
      const sel = selection(v);
      return async (dl) => {
        const r = await dl.replay(sel, {
          keep: v.keep === true,
          onEach: (e) =>
            out(
              json
                ? JSON.stringify(e)
                : e.replayed
                  ? `replayed seq ${e.seq} (${e.topic} ${e.event_id}) as event stream seq ${e.stream_seq}`
                  : `skipped seq ${e.seq}: ${e.why}`,
            ),
        });
        if (r.notFound) console.error(`no dead letter with ${describe(sel)} in ${dl.dlqStream}`);
        out(
          json
            ? JSON.stringify({ replayed: r.replayed, skipped: r.skipped })
            : `replayed ${r.replayed}, skipped ${r.skipped} (${describe(sel)})`,
        );
        return r.skipped > 0 || r.notFound ? 1 : 0;
      };
    }
    case 'purge': {
      noExtra();
      const sel = selection(v);
      return async (dl) => {
        const purged = await dl.purge(sel);
        out(json ? JSON.stringify({ purged }) : `purged ${purged} (${describe(sel)})`);
        if ('seq' in sel && purged === 0) {
          console.error(`no dead letter with seq ${sel.seq} in ${dl.dlqStream}`);
          return 1;
        }
        return 0;
      };
    }
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'no command');
  }
}

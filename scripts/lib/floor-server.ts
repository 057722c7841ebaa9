// The least an ingest can do with one event per request in this design, for `npm run bench`'s floor
// modes: node:http (no framework, no hooks, no validation beyond JSON.parse), and with NATS_URL set
// each event published to JetStream with its Nats-Msg-Id through the same pipelined publisher as
// ingest, answered 202 only after the PubAck. Its CPU next to ingest's shows what ingest's features
// cost; its CPU plus nats-server's shows what the architecture costs before anything is stored.
// Not a server for anything else: no limits, no auth, no broker-duplicate counting.
import http from 'node:http';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { msgIdFor, subjectFor, type Event } from '../../shared/event.ts';
import { PipelinedPublisher } from '../../apps/ingest/pipelined-publisher.ts';

const port = Number(process.env.PORT);
const natsUrl = process.env.NATS_URL;
const nc = natsUrl ? await connect({ servers: natsUrl, noAsyncTraces: true }) : undefined;
const publisher = nc ? new PipelinedPublisher(nc, 30_000) : undefined;

function answer(res: http.ServerResponse, status: number, body: unknown) {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

http
  .createServer((req, res) => {
    if (req.method !== 'POST') return answer(res, 200, { status: 'ready' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      let event: Event;
      try {
        event = JSON.parse(body) as Event;
      } catch {
        return answer(res, 422, { message: 'invalid JSON' });
      }
      if (!publisher) return answer(res, 202, { accepted: 1, duplicates: 0 });
      const h = headers();
      h.set('Nats-Msg-Id', msgIdFor(event));
      const json = JSON.stringify({ ...event, received_at: new Date().toISOString() });
      publisher.publish(subjectFor(event.topic), json, h).then(
        (ack) => answer(res, 202, { accepted: ack.duplicate ? 0 : 1, duplicates: ack.duplicate ? 1 : 0 }),
        () => answer(res, 503, { message: 'not stored' }),
      );
    });
  })
  .listen(port, '127.0.0.1');

// `helm test` script, run as `node /scripts/helm-test.cjs` in the application image: publishes one event to the ingest
// Service and polls GET /events?topic=helm.test until the consumer has committed it.
const base = process.env.INGEST_URL;
const timeoutMs = Number(process.env.TEST_TIMEOUT_SECONDS || 60) * 1000;
const first = (list) =>
  (list || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)[0];
const publishToken = first(process.env.AUTH_PUBLISH_TOKENS);
const readToken = first(process.env.AUTH_READ_TOKENS) || publishToken;
const headers = (token) => (token ? { authorization: `Bearer ${token}` } : {});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const eventId = `helm-test-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
(async () => {
  const event = { topic: 'helm.test', event_id: eventId, timestamp: '2026-01-01T00:00:00Z' };
  const res = await fetch(`${base}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers(publishToken) },
    body: JSON.stringify(event),
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /publish: expected 202, got ${res.status}: ${text}`);
  const body = JSON.parse(text);
  if (body.status !== 'queued') throw new Error(`POST /publish: expected status "queued": ${text}`);
  console.log(`published ${eventId}: ${text}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${base}/events?topic=helm.test`, { headers: headers(readToken) });
    // GET /events answers a JSON array (newest first), like the previous service.
    const page = await r.json().catch(() => null);
    if (r.ok && Array.isArray(page) && page.some((e) => e.event_id === eventId && e.topic === 'helm.test')) {
      console.log(`read back ${eventId} through GET /events: ok`);
      return;
    }
    if (Date.now() > deadline)
      throw new Error(`event ${eventId} not returned by GET /events within ${timeoutMs} ms (last status ${r.status})`);
    await sleep(1000);
  }
})().catch((err) => {
  console.error(`helm test failed: ${err.message}`);
  process.exit(1);
});

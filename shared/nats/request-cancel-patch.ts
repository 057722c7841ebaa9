import { RequestOne } from '@nats-io/nats-core/internal';

// Upstream inefficiency in @nats-io/nats-core 3.x (every JetStream publish is such a request):
// RequestOne.resolver() resolves the request and then calls cancel(), which builds
// `new RequestError("cancelled")` (capturing a stack trace) only to reject a promise that is
// already settled. Profiled at ~10% of the ingest process's CPU with batches of 100 events.
// After a request has settled, skip that dead rejection; everything else cancel() does still runs.
// Pinned to the nats-core version in package-lock.json; test/integration/nats-patch.test.ts checks
// that requests still resolve, time out and reject as before.
type Internals = {
  resolver(err: Error | null, msg: unknown): void;
  cancel(err?: Error): void;
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  settled?: boolean;
};

let applied = false;

export function applyRequestCancelPatch(): void {
  if (applied) return;
  applied = true;
  const proto = RequestOne.prototype as unknown as Internals;
  const { resolver, cancel } = proto;
  if (typeof resolver !== 'function' || typeof cancel !== 'function') {
    throw new Error('@nats-io/nats-core RequestOne changed shape: remove shared/nats/request-cancel-patch.ts');
  }
  proto.resolver = function (this: Internals, err, msg) {
    this.settled = true;
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: Internals, err) {
    if (!this.settled || err) return cancel.call(this, err);
    this.timer?.cancel();
    this.mux.cancel(this);
  };
}

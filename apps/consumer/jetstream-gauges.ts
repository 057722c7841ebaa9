import type { JetStreamManager } from '@nats-io/jetstream';
import type { ConsumerAppConfig } from '../../shared/config.ts';
import type { ConsumerMetrics } from '../../shared/metrics.ts';
import { counterStreamName, deadLetterStreamName } from '../../shared/nats/topology.ts';

/**
 * Fills the gauges an operator needs to see a store coming to its bound: the buffer (the event
 * stream), its oldest unstored event, the dead letters and the counter stream. Stream and consumer
 * info only: no rights to read messages are needed. The oldest event still in a work-queue stream
 * is the oldest one not yet acknowledged, i.e. not yet committed to PostgreSQL.
 */
export async function refreshJetStreamGauges(jsm: JetStreamManager, config: ConsumerAppConfig, metrics: ConsumerMetrics): Promise<void> {
  const [consumer, events, deadLetters, counters] = await Promise.all([
    jsm.consumers.info(config.STREAM_NAME, config.CONSUMER_NAME),
    jsm.streams.info(config.STREAM_NAME),
    jsm.streams.info(deadLetterStreamName(config.STREAM_NAME)),
    jsm.streams.info(counterStreamName(config.STREAM_NAME)),
  ]);
  metrics.pending.set(consumer.num_pending);
  metrics.ackPending.set(consumer.num_ack_pending);
  metrics.bufferBytes.set(events.state.bytes);
  metrics.bufferMaxBytes.set(events.config.max_bytes);
  metrics.bufferMessages.set(events.state.messages);
  const oldest = events.state.messages > 0 ? Date.parse(events.state.first_ts) : Number.NaN;
  metrics.bufferOldestAge.set(Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0);
  metrics.deadLetterMessages.set(deadLetters.state.messages);
  metrics.deadLetterBytes.set(deadLetters.state.bytes);
  metrics.deadLetterMaxBytes.set(deadLetters.config.max_bytes);
  metrics.counterStreamMessages.set(counters.state.messages);
  metrics.counterStreamBytes.set(counters.state.bytes);
}

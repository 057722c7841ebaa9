// Shared k6 load profiles (grafana/quickpizza style). Pick one with PROFILE=<name>.
// Every profile runs a fixed number of requests (shared iterations), so a run is bounded in count
// and in time (maxDuration) and stops by itself.
// Exactness is a threshold of every profile; a latency objective only of those meant for a machine
// whose speed we know: a slow cluster node must not fail a run whose counts are exact.
export interface Profile {
  vus: number;
  maxDuration: string;
  /** Fail the run when the 95th percentile of accepted requests exceeds this; absent = no latency SLO. */
  p95Ms?: number;
}

export const PROFILES: Record<string, Profile> = {
  /** A few requests: does the target work at all? */
  smoke: { vus: 1, maxDuration: '1m' },
  /**
   * The standard workload: 20,000 events, 30% duplicates. p95 < 250 ms: a batch of 100 is 100
   * pipelined publishes each awaiting a PubAck; on a 2-core machine with everything co-located the
   * benchmark measured p95 well under this (bench/RESULTS.md), so crossing it means a regression.
   */
  demo: { vus: 16, maxDuration: '5m', p95Ms: 250 },
  /** The same workload with no latency objective: inside a cluster of unknown speed (the chart's Job). */
  cluster: { vus: 16, maxDuration: '10m' },
  /** More clients than cores: how does latency degrade? */
  stress: { vus: 64, maxDuration: '10m' },
};

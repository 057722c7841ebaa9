// Shared k6 load profiles (grafana/quickpizza style). Pick one with PROFILE=<name>.
// Every profile runs a fixed number of requests (shared iterations), so a run is bounded in count
// and in time (maxDuration) and stops by itself.
export interface Profile {
  vus: number;
  maxDuration: string;
}

export const PROFILES: Record<string, Profile> = {
  /** A few requests: does the target work at all? */
  smoke: { vus: 1, maxDuration: '1m' },
  /** The standard workload: 20,000 events, 30% duplicates. */
  demo: { vus: 16, maxDuration: '5m' },
  /** More clients than cores: how does latency degrade? */
  stress: { vus: 64, maxDuration: '10m' },
};

import { databaseReachable, type Db } from '../../shared/db/prisma.ts';
import type { Log } from '../../shared/logger.ts';
import type { ConsumerMetrics } from '../../shared/metrics.ts';

/**
 * Whether PostgreSQL is usable, as the consumer's readiness and the consumer_database_up gauge say:
 * set by every batch's outcome, and by a probe while no batch is in hand.
 */
export class DatabaseHealth {
  private up = true;

  constructor(
    private readonly db: Db,
    private readonly metrics: ConsumerMetrics,
    private readonly log: Log,
  ) {}

  get healthy(): boolean {
    return this.up;
  }

  /** True when PostgreSQL answers now; records the answer. */
  async probe(): Promise<boolean> {
    const up = await databaseReachable(this.db);
    this.set(up);
    return up;
  }

  set(up: boolean): void {
    if (this.up !== up) {
      if (up) this.log.info({}, 'PostgreSQL is back');
      else this.log.error({}, 'PostgreSQL is unreachable');
    }
    this.up = up;
    this.metrics.dbUp.set(up ? 1 : 0);
  }
}

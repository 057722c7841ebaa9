import { describe, expect, it } from 'vitest';
import { ackedNotStored } from '../../apps/consumer/database-behind.ts';

describe('ackedNotStored (a database restored behind the event stream)', () => {
  it('is 0 when the database holds everything acknowledged', () => {
    expect(ackedNotStored({ ackFloor: 20_000, databaseHigh: 20_000, deadLetters: 0 })).toBe(0);
    // Delivered but not yet acknowledged events sit above the ack floor: the database may be ahead.
    expect(ackedNotStored({ ackFloor: 19_500, databaseHigh: 20_000, deadLetters: 0 })).toBe(0);
    // A fresh stream created after the database's high-water mark: nothing acknowledged yet.
    expect(ackedNotStored({ ackFloor: 0, databaseHigh: 20_000, deadLetters: 0 })).toBe(0);
  });

  it('counts the acknowledged sequences past the database', () => {
    // Backup at 20,000; NATS kept and acknowledged 5,000 more that the restored database lacks.
    expect(ackedNotStored({ ackFloor: 25_000, databaseHigh: 20_000, deadLetters: 0 })).toBe(5_000);
  });

  it('does not count dead letters, which are acknowledged without a row', () => {
    expect(ackedNotStored({ ackFloor: 20_003, databaseHigh: 20_000, deadLetters: 3 })).toBe(0);
    expect(ackedNotStored({ ackFloor: 20_010, databaseHigh: 20_000, deadLetters: 3 })).toBe(7);
    // More dead letters than the gap (older ones, below the database's high): never negative.
    expect(ackedNotStored({ ackFloor: 20_001, databaseHigh: 20_000, deadLetters: 50 })).toBe(0);
  });
});

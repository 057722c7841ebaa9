// The committed migrations (what `migrate deploy` runs in the image) must build exactly the schema
// in prisma/schema.prisma (what the client is generated from). Prisma computes the difference on a
// real PostgreSQL, used as its scratch database.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prismaCli, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';

let pg: Postgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.remove();
});

it('builds from the committed migrations exactly the schema the client is generated from', () => {
  const diff = (schema: string) => {
    try {
      return {
        status: 0,
        sql: prismaCli(pg.url, [
          'migrate',
          'diff',
          '--from-migrations',
          'prisma/migrations',
          '--to-schema-datamodel',
          schema,
          '--script',
          '--exit-code',
        ]),
      };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { status: e.status, sql: `${e.stdout}${e.stderr}` };
    }
  };
  const result = diff('prisma/schema.prisma');
  expect(result.sql).toContain('empty migration');
  expect(result.status).toBe(0);
});

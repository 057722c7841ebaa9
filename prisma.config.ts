// The Prisma CLI cannot download its native schema engine here (nor in many locked-down CI/CD
// networks), so migrations run on the WebAssembly engine through the pg driver adapter.
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import { createPgPool } from './shared/db/pg-pool.ts';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  experimental: { adapter: true },
  engine: 'js',
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL must be set to run migrations');
    return new PrismaPg(createPgPool({ connectionString: url, max: 2 }));
  },
});

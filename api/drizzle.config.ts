import { defineConfig } from 'drizzle-kit';

// `npm run db:generate -w api` writes a new SQL migration into ./drizzle from src/db/schema.ts.
// Review and commit it; the app applies migrations on boot (development/testing) or through
// `npm run migrate` (production).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});

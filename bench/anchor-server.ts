/**
 * The anchor the HTTP benchmarks hold Gyre against: a bare fastify + mercurius server (the versions
 * Gyre uses) whose mutation does one INSERT and whose query one SELECT, on the same kind of database,
 * opened as Gyre opens it. No authentication, no log, no events.
 * Usage: anchor-server.ts pglite|postgres <port> <PGlite directory | PostgreSQL URL>
 */
import fastify from 'fastify';
import mercurius from 'mercurius';
import { openDatabase, rows } from '../adapters/database/sql.ts';

const [backend, port, where] = process.argv.slice(2);
if ((backend !== 'pglite' && backend !== 'postgres') || !port || !where) throw new Error('usage: anchor-server.ts pglite|postgres <port> <directory | url>');
const db = backend === 'postgres' ? openDatabase({ url: where }) : openDatabase({ dataDir: where });
await db.raw(
  'create table if not exists anchor_items (id uuid primary key default gen_random_uuid(), name text not null, created_at timestamptz not null default now())',
);

type Item = { id: string; name: string };
const app = fastify({ logger: false });
await app.register(mercurius, {
  schema: `
    type Item { id: ID! name: String! }
    type Query { item(id: ID!): Item }
    type Mutation { createItem(name: String!): Item! }`,
  resolvers: {
    Query: { item: async (_: unknown, a: { id: string }) => (await rows<Item>(db.raw('select id, name from anchor_items where id = ?', [a.id])))[0] ?? null },
    Mutation: {
      createItem: async (_: unknown, a: { name: string }) =>
        (await rows<Item>(db.raw('insert into anchor_items (name) values (?) returning id, name', [a.name])))[0]!,
    },
  },
});
app.get('/ready', async () => ({ ready: true }));
const stop = async () => {
  await app.close();
  await db.destroy();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await app.listen({ port: Number(port), host: '127.0.0.1' });

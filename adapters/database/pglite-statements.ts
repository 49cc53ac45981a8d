import type { Knex } from 'knex';
import type { PGlite, Results } from '@electric-sql/pglite';

type PGliteModule = typeof import('@electric-sql/pglite');
type KnexClientClass = typeof Knex.Client;
type Statement = { readonly text: string; readonly types: ReadonlyArray<number> };

/**
 * Named prepared statements on PGlite. Its `query()` parses and describes every statement again (the
 * engine is in this process, so that is CPU, not a round trip); a query given a name through knex's
 * `.options({ name })` (what node-postgres takes for a named prepared statement on PostgreSQL) is parsed
 * once per PGlite instance here, then only bound and executed. Values are serialized and rows parsed
 * by PGlite's own serializers and parsers, as `query()` does. A name keeps its first text: another text
 * under it is an error, as on node-postgres.
 */
export const withNamedStatements = (Base: KnexClientClass, pglite: Pick<PGliteModule, 'protocol' | 'parse'>): KnexClientClass => {
  const { serialize } = pglite.protocol;
  const prepared = new WeakMap<PGlite, Map<string, Statement>>();

  const run = (db: PGlite, name: string, text: string, values: ReadonlyArray<unknown>): Promise<Results> =>
    db.runExclusive(async () => {
      const statements = prepared.get(db) ?? new Map<string, Statement>();
      prepared.set(db, statements);
      const known = statements.get(name);
      if (known && known.text !== text) throw new Error(`the prepared statement "${name}" was given another text`);
      const messages: Awaited<ReturnType<PGlite['execProtocol']>>['messages'] = [];
      const send = async (message: Uint8Array) => (await db.execProtocol(message, { syncToFs: false })).messages;
      try {
        let statement = known;
        if (!statement) {
          messages.push(...(await send(serialize.parse({ name, text }))));
          statement = { text, types: pglite.parse.parseDescribeStatementResults(await send(serialize.describe({ type: 'S', name }))) };
          statements.set(name, statement);
        }
        const types = statement.types;
        const params = values.map((v, i) => {
          if (v === null || v === undefined) return null;
          const serializer = db.serializers[types[i]!];
          return serializer ? serializer(v) : String(v);
        });
        messages.push(...(await send(serialize.bind({ statement: name, values: params }))));
        messages.push(...(await send(serialize.describe({ type: 'P' }))));
        messages.push(...(await send(serialize.execute({}))));
      } finally {
        // ends the extended query, and an error's skipping of what followed it
        messages.push(...(await send(serialize.sync())));
      }
      await db.syncToFs();
      return pglite.parse.parseResults(messages, db.parsers)[0]!;
    });

  const base = Base as unknown as new (config: unknown) => { _query(connection: unknown, obj: unknown): Promise<unknown> };
  class Named extends base {
    override async _query(connection: unknown, obj: { sql: string; bindings?: unknown[]; options?: { name?: unknown }; response?: unknown }) {
      const name = obj.options?.name;
      if (typeof name !== 'string') return super._query(connection, obj);
      obj.response = await run(connection as PGlite, name, obj.sql, obj.bindings ?? []);
      return obj;
    }
  }
  return Named as unknown as KnexClientClass;
};

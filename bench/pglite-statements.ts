/**
 * Whether PGlite gains from named prepared statements: the event store's stream read on an in-memory
 * PGlite of 20,000 events, sent three ways, in 7 rounds of 400 (median ms per statement): `query()`
 * (parses and describes every time), the same protocol messages sent by hand (parse, describe,
 * bind, describe, execute, sync), and a statement parsed once under a name, then only bound and
 * executed (what `adapters/database/pglite-statements.ts` does). `npx tsx bench/pglite-statements.ts`
 */
import { PGlite, protocol, parse } from '@electric-sql/pglite';
import { report } from './support.ts';
const pg = new PGlite(undefined, { postgresqlconf: ['shared_buffers = 16MB'] } as never);
await pg.exec(`create table events (global_position bigserial primary key, transaction_id xid8 not null default pg_current_xact_id(), event_id uuid not null unique, stream_id text not null, revision bigint not null, type text not null, data jsonb not null, metadata jsonb not null, occurred_at timestamptz not null default clock_timestamp(), unique (stream_id, revision));
create index events_log_order on events (transaction_id, global_position);`);
await pg.exec(
  `insert into events (event_id, stream_id, revision, type, data, metadata) select gen_random_uuid(), 's-' || i, 0, 't', '{"a":1}', '{"b":2}' from generate_series(1, 20000) i`,
);
const sql = `select events.global_position::text as gp, events.transaction_id::text as xid, events.event_id::text, events.stream_id,
  events.revision::text as rev, events.type, events.data, events.metadata,
  to_char(events.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at from events where stream_id = $1 and revision >= $2 order by revision`;
const N = 400;
const s = protocol.serialize;
const opts = { syncToFs: false } as never;
await pg.execProtocol(s.parse({ name: 'rs', text: sql, types: [25, 20] }), opts);
await pg.execProtocol(s.sync(), opts);
const run = async (messages: (i: number) => Uint8Array[]) => {
  const msgs: Awaited<ReturnType<PGlite['execProtocol']>>['messages'] = [];
  for (let i = 0; i < N; i++) {
    msgs.length = 0;
    for (const m of messages(i)) msgs.push(...(await pg.execProtocol(m, opts)).messages);
    parse.parseResults(msgs, pg.parsers);
  }
};
const variants: Record<string, () => Promise<unknown>> = {
  query: async () => {
    for (let i = 0; i < N; i++) await pg.query(sql, [`s-${(i % 20000) + 1}`, 0]);
  },
  unnamed_protocol: () =>
    run((i) => [
      s.parse({ text: sql, types: [25, 20] }),
      s.describe({ type: 'S' }),
      s.bind({ values: [`s-${(i % 20000) + 1}`, '0'] }),
      s.describe({ type: 'P' }),
      s.execute({}),
      s.sync(),
    ]),
  named_protocol: () => run((i) => [s.bind({ statement: 'rs', values: [`s-${(i % 20000) + 1}`, '0'] }), s.describe({ type: 'P' }), s.execute({}), s.sync()]),
};
const times: Record<string, number[]> = {};
for (let round = 0; round < 7; round++)
  for (const [k, f] of Object.entries(variants)) {
    const t = performance.now();
    await f();
    (times[k] ??= []).push((performance.now() - t) / N);
  }
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
report({ bench: 'pglite-statements', backend: 'pglite', ...Object.fromEntries(Object.entries(times).map(([k, v]) => [`${k}_ms`, +med(v).toFixed(3)])) });
await pg.close();

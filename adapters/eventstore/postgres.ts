import type { Knex } from 'knex';
import { likePrefix, type ActionFilter } from '../../domain/audit/action-filter.ts';
import type { EventMetadata, NewEvent, Position, RecordedEvent } from '../../domain/events/envelope.ts';
import { isEmbedded, rows, withSchemaLock, type Database } from '../database/sql.ts';
import { createGroupCommit, type AppendRequest } from './group-commit.ts';
import { createLogTail, type LogTailOptions } from './log-tail.ts';
import { appendChannel, listenForAppends } from './notifications.ts';
import {
  appendOfNothing,
  START,
  WrongExpectedRevisionError,
  maxPosition,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type Page,
  type ReadAllOptions,
} from './port.ts';

/**
 * PostgreSQL and PGlite, one SQL. A position is `(transaction id, global position)`; readers only take
 * rows of transactions older than the snapshot's xmin, all of which have ended, so an event whose
 * transaction commits late can never be skipped by a reader that has moved past it.
 */
const schema = [
  `create table if not exists streams (
     stream_id text primary key,
     revision bigint not null
   )`,
  `create table if not exists events (
     global_position bigserial primary key,
     transaction_id xid8 not null default pg_current_xact_id(),
     event_id uuid not null unique,
     stream_id text not null,
     revision bigint not null,
     type text not null,
     data jsonb not null,
     metadata jsonb not null,
     occurred_at timestamptz not null default clock_timestamp(),
     unique (stream_id, revision)
   )`,
  `create index if not exists events_log_order on events (transaction_id, global_position)`,
];

const width = 20;
const encode = (xid: string, seq: string | number): Position => `${xid.padStart(width, '0')}/${String(seq).padStart(width, '0')}`;
const decode = (p: Position): [string, string] => {
  if (p === START) return ['0', '0'];
  const m = /^(\d{20})\/(\d{20})$/.exec(p);
  if (!m) throw new Error(`not a PostgreSQL event store position: ${p}`);
  return [BigInt(m[1]!).toString(), BigInt(m[2]!).toString()];
};

interface EventRow {
  gp: string;
  xid: string;
  event_id: string;
  stream_id: string;
  rev: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: string;
}

// Aliases differ from the column names so that ORDER BY sorts the numbers, not their text.
const columnsOf = (t: string) => `${t}.global_position::text as gp, ${t}.transaction_id::text as xid, ${t}.event_id::text, ${t}.stream_id,
  ${t}.revision::text as rev, ${t}.type, ${t}.data, ${t}.metadata,
  to_char(${t}.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at`;
const columns = columnsOf('events');

const toRecorded = (r: EventRow): RecordedEvent => ({
  id: r.event_id,
  type: r.type,
  data: r.data,
  metadata: r.metadata,
  stream: r.stream_id,
  revision: Number(r.rev),
  position: encode(r.xid, r.gp),
  occurredAt: r.occurred_at,
});

const typeMatch = (types: ReadonlyArray<ActionFilter>): [string, string[][]] => {
  const exact = types.flatMap((t) => ('exact' in t ? [t.exact] : []));
  const prefixes = types.flatMap((t) => ('prefix' in t ? [likePrefix(t.prefix)] : []));
  return ['(type = any(?::text[]) or type like any(?::text[]))', [exact, prefixes]];
};

export interface PostgresEventStore extends EventStore {
  /** Appends inside a transaction the caller owns; keep it short, it holds back every reader. */
  appendWithin(trx: Knex.Transaction, stream: string, events: ReadonlyArray<NewEvent>, expected: ExpectedRevision): Promise<AppendResult>;
}

export interface PostgresEventStoreOptions {
  readonly pageSize?: number;
  /** Told when the log's tail or its LISTEN connection fails; both try again by themselves. */
  readonly onError?: (error: unknown) => void;
  readonly tail?: Omit<LogTailOptions, 'onError'>;
}

const embeddedStores = new WeakMap<Database, Set<() => void>>();

export const createPostgresEventStore = async (db: Database, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> => {
  await withSchemaLock(db, async (trx) => {
    for (const statement of schema) await trx.raw(statement);
  });
  const defaultPage = options.pageSize ?? 500;
  // other processes share only PostgreSQL: they announce their appends through it
  const shared = !isEmbedded(db);

  /**
   * A statement Gyre sends often, as a named prepared statement: each connection parses and plans it
   * once (node-postgres sends its Parse only the first time a connection meets the name; on PGlite,
   * `adapters/database/pglite-statements.ts` does the same). Its text must therefore be the same every
   * time: no lists that grow with the input, arrays and unnest instead.
   */
  const hot = (q: Knex | Knex.Transaction, name: string, sql: string, bindings: ReadonlyArray<unknown>) =>
    q.raw(sql, bindings as Knex.RawBinding[]).options({ name: `gyre_${name}` });

  const currentRevision = async (q: Knex | Knex.Transaction, stream: string): Promise<number | 'no_stream'> => {
    const [r] = await rows<{ revision: string }>(hot(q, 'stream_revision', 'select revision::text from streams where stream_id = ?', [stream]));
    return r ? Number(r.revision) : 'no_stream';
  };

  const unchanged = async (q: Knex | Knex.Transaction, stream: string, expected: ExpectedRevision): Promise<AppendResult> =>
    appendOfNothing(stream, expected, await currentRevision(q, stream));

  /**
   * The one statement that writes a batch of appends, whatever their number and kinds: the appends and
   * their events come as arrays. Existing streams are locked first, in stream order, so that two
   * servers' writes do not deadlock (`ready` waits for `locked`, whose count is taken before its first
   * row); then each append claims its revisions by a compare-and-set on
   * `streams` (`exists` and an exact revision update the row, `any` inserts or updates it, `no_stream`
   * inserts it or finds it taken), and the events of the appends that claimed go in, each insert the
   * first write after its revision check. A stream appears once per batch, so it names its append.
   */
  const appendSql = `with appends as (
       select * from unnest(?::text[], ?::text[], ?::bigint[], ?::int[]) as a (stream_id, expected, revision, count)),
     locked as (
       select s.stream_id from streams s join appends a using (stream_id) where a.expected <> 'no_stream'
       order by s.stream_id for update of s),
     ready as (
       select * from appends where (select count(*) from locked) >= 0),
     updated as (
       update streams s set revision = s.revision + a.count from ready a
       where s.stream_id = a.stream_id and (a.expected = 'exists' or (a.expected = 'exact' and s.revision = a.revision))
       returning s.stream_id, s.revision),
     upserted as (
       insert into streams as s (stream_id, revision)
       select stream_id, count - 1 from ready where expected = 'any' order by stream_id
       on conflict (stream_id) do update set revision = s.revision + excluded.revision + 1
       returning s.stream_id, s.revision),
     created as (
       insert into streams (stream_id, revision)
       select stream_id, count - 1 from ready where expected = 'no_stream' order by stream_id
       on conflict do nothing
       returning stream_id, revision),
     claimed as (
       select * from updated union all select * from upserted union all select * from created)
   insert into events (event_id, stream_id, revision, type, data, metadata)
   select e.event_id, e.stream_id, c.revision - a.count + 1 + e.ord, e.type, e.data, e.metadata
   from unnest(?::text[], ?::int[], ?::uuid[], ?::text[], ?::jsonb[], ?::jsonb[]) as e (stream_id, ord, event_id, type, data, metadata)
     join claimed c on c.stream_id = e.stream_id
     join appends a on a.stream_id = e.stream_id${shared ? `\n     cross join (select pg_notify('${appendChannel}', '')) as announced` : ''}
   order by e.stream_id, e.ord
   returning ${columns}`;

  /**
   * Writes a batch of appends in one statement (so a batch is atomic and costs one round trip). An
   * append whose claim found no row did not hold its expected revision: nothing of it was written, and
   * it alone fails.
   */
  const writeAppends = async (q: Knex | Knex.Transaction, batch: ReadonlyArray<AppendRequest>): Promise<Array<AppendResult | Error>> => {
    const events = batch.flatMap(({ stream, events }) => events.map((e, ord) => ({ stream, ord, e })));
    const inserted = await rows<EventRow>(
      hot(q, 'append', appendSql, [
        batch.map((a) => a.stream),
        batch.map((a) => (typeof a.expected === 'number' ? 'exact' : a.expected)),
        batch.map((a) => (typeof a.expected === 'number' ? a.expected : null)),
        batch.map((a) => a.events.length),
        events.map((x) => x.stream),
        events.map((x) => x.ord),
        events.map((x) => x.e.id),
        events.map((x) => x.e.type),
        events.map((x) => JSON.stringify(x.e.data)),
        events.map((x) => JSON.stringify(x.e.metadata)),
      ]),
    );
    const byStream = new Map<string, RecordedEvent[]>();
    for (const r of inserted) {
      const recorded = toRecorded(r);
      byStream.set(recorded.stream, [...(byStream.get(recorded.stream) ?? []), recorded]);
    }
    return Promise.all(
      batch.map(async ({ stream, expected }) => {
        const recorded = (byStream.get(stream) ?? []).sort((a, b) => a.revision - b.revision);
        if (recorded.length === 0) return new WrongExpectedRevisionError(stream, expected, await currentRevision(q, stream));
        const last = recorded[recorded.length - 1]!;
        return { revision: last.revision, position: last.position, events: recorded };
      }),
    );
  };

  const appendWith = async (q: Knex | Knex.Transaction, stream: string, events: ReadonlyArray<NewEvent>, expected: ExpectedRevision): Promise<AppendResult> => {
    if (events.length === 0) return unchanged(q, stream, expected);
    const [outcome] = await writeAppends(q, [{ stream, events, expected }]);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  };

  const groupCommit = createGroupCommit(async (batch) => {
    const outcomes = await writeAppends(db, batch);
    // PostgreSQL announces every append, this process's too, at its commit
    if (!shared && outcomes.some((o) => !(o instanceof Error))) announce();
    return outcomes;
  });

  const appendWithin: PostgresEventStore['appendWithin'] = async (trx, stream, events, expected) => {
    const result = await appendWith(trx, stream, events, expected);
    // readers can see the events only once the caller's transaction has ended
    if (result.events.length && !shared) void trx.executionPromise.then(announce, announce);
    return result;
  };

  const horizon = async (): Promise<string> => {
    const [r] = await rows<{ xmin: string }>(hot(db, 'horizon', 'select pg_snapshot_xmin(pg_current_snapshot())::text as xmin', []));
    return r!.xmin;
  };

  /**
   * The log after a position, in one statement and one snapshot: the horizon (every transaction below
   * the snapshot's xmin has ended, so what is visible below it is final), whether committed events
   * wait at or above it (an older transaction still open holds them back), and a page of what is
   * below it. The horizon and that look are a row of their own, joined to the page's rows, so they
   * come back even when the page is empty.
   */
  // events past `from` at or above the horizon exist when the log's last event is one: a seek to the
  // index's end, where a search for them would scan every event after `from` (the whole log in catch-up)
  const lookAt = `with horizon as (select pg_snapshot_xmin(pg_current_snapshot()) as xmin),
     behind as (select coalesce((select (transaction_id, global_position) > (?::text::xid8, ?::bigint) and transaction_id >= (select xmin from horizon)
       from events order by transaction_id desc, global_position desc limit 1), false) as held_back)`;
  const below = '(transaction_id, global_position) > (?::text::xid8, ?::bigint) and transaction_id < (select xmin from horizon)';
  const pageSql = `${lookAt},
     page as (select transaction_id as t, global_position as g, ${columns} from events where ${below}
       order by transaction_id, global_position limit ?)
   select horizon.xmin::text as horizon, behind.held_back, page.*
   from horizon cross join behind left join page on true
   order by page.t, page.g`;
  const filteredPageSql = (match: string) => `${lookAt},
     scanned as (select global_position, transaction_id, ${match} as matches from events where ${below}
       order by transaction_id, global_position limit ?)
   select horizon.xmin::text as horizon, behind.held_back, w.*
   from horizon cross join behind left join (
     select scanned.transaction_id as t, scanned.global_position as g, scanned.global_position::text as window_gp,
       scanned.transaction_id::text as window_xid, scanned.matches, ${columnsOf('e')}
     from scanned left join events e on e.global_position = scanned.global_position and scanned.matches) w on true
   order by w.t, w.g`;

  type Looked = { horizon: string; held_back: boolean; matches?: boolean; window_xid?: string | null; window_gp?: string | null } & (
    | { gp: string }
    | { gp: null }
  ) &
    EventRow;

  /**
   * One page of the log after `from`, and whether committed events past it are held back. A filtered
   * read scans a window of `limit` events in log order (on the log-order index) and keeps those that
   * match, so a rare type never costs a scan of the whole log; `next` then moves past the window even
   * when nothing in it matched.
   */
  const readPage = async (from: Position, opts: ReadAllOptions = {}): Promise<Page & { heldBack: boolean }> => {
    const limit = opts.limit ?? defaultPage;
    const [xid, seq] = decode(from);
    const types = opts.filter?.types ?? [];
    let found: Looked[];
    if (types.length === 0) {
      found = await rows<Looked>(hot(db, 'read_log', pageSql, [xid, seq, xid, seq, limit]));
    } else {
      const [match, params] = typeMatch(types);
      found = await rows<Looked>(hot(db, 'read_log_filtered', filteredPageSql(match), [xid, seq, ...params, xid, seq, limit]));
    }
    const { horizon: xmin, held_back: heldBack } = found[0]!;
    const scanned = found.filter((r) => (r.window_gp ?? r.gp) !== null);
    const events = scanned.filter((r) => r.matches !== false).map(toRecorded);
    const atEnd = scanned.length < limit;
    const last = scanned[scanned.length - 1];
    const next = atEnd ? maxPosition(from, encode(xmin, 0)) : encode(last!.window_xid ?? last!.xid, last!.window_gp ?? last!.gp!);
    return { events, next, atEnd, heldBack: atEnd && heldBack };
  };

  const readAll = async (from: Position, opts: ReadAllOptions = {}): Promise<Page> => {
    const { events, next, atEnd } = await readPage(from, opts);
    return { events, next, atEnd };
  };

  /**
   * The newest committed event's position (START when there is none): at or after every committed
   * event, and no further, so that a follower told of no append since has already passed it.
   */
  const head = async () => {
    const [last] = await rows<{ xid: string; gp: string }>(
      hot(
        db,
        'head',
        'select transaction_id::text as xid, global_position::text as gp from events order by transaction_id desc, global_position desc limit 1',
        [],
      ),
    );
    return last ? encode(last.xid, last.gp) : START;
  };

  // from the horizon, not the head: a transaction still open now may commit an event below the head later
  const tail = createLogTail({ readAll: readPage, start: async () => encode(await horizon(), 0) }, { ...options.tail, onError: options.onError });
  const listener = shared ? listenForAppends(db, tail.wake, options.onError ?? (() => {})) : null;
  // an embedded database lives in this process: every store on it hears of its appends from here
  const neighbours = embeddedStores.get(db) ?? new Set<() => void>();
  embeddedStores.set(db, neighbours);
  if (!shared) neighbours.add(tail.wake);
  const announce = () => {
    for (const wake of neighbours) wake();
  };

  return {
    appendWithin,
    append: (stream, events, expected) => (events.length === 0 ? unchanged(db, stream, expected) : groupCommit({ stream, events, expected })),
    async readStream(stream, fromRevision = 0) {
      const found = await rows<EventRow>(
        hot(db, 'read_stream', `select ${columns} from events where stream_id = ? and revision >= ? order by revision`, [stream, fromRevision]),
      );
      return found.map(toRecorded);
    },
    async readLast(stream) {
      const [last] = await rows<EventRow>(hot(db, 'read_last', `select ${columns} from events where stream_id = ? order by revision desc limit 1`, [stream]));
      return last ? toRecorded(last) : undefined;
    },
    readAll,
    subscribe: (from, opts) => tail.subscribe(from, opts),
    head,
    async close() {
      neighbours.delete(tail.wake);
      tail.close();
      await listener?.close();
    },
  };
};

/** About how many events the log holds (its newest global position: instant, and a little high after rolled-back appends), for progress reports. */
export const approximateLogLength = async (db: Knex): Promise<number> => {
  const [r] = await rows<{ n: string | null }>(db.raw('select max(global_position)::text as n from events'));
  return Number(r?.n ?? 0);
};

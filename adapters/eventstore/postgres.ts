import type { Knex } from 'knex';
import { likePrefix, type ActionFilter } from '../../domain/audit/action-filter.ts';
import type { EventMetadata, NewEvent, Position, RecordedEvent } from '../../domain/events/envelope.ts';
import { isEmbedded, rows, withSchemaLock, type Database } from '../database/sql.ts';
import { createGroupCommit, type AppendRequest } from './group-commit.ts';
import { createLogTail, type LogTailOptions } from './log-tail.ts';
import { appendChannel, listenForAppends } from './notifications.ts';
import {
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

  /** The statement that claims the revisions (the compare-and-set on `streams`), per expected revision. */
  const claim = (stream: string, count: number, expected: ExpectedRevision): [string, unknown[]] => {
    if (expected === 'no_stream') return ['insert into streams (stream_id, revision) values (?, ?) on conflict do nothing returning revision', [stream, count - 1]];
    if (expected === 'any') {
      return ['insert into streams (stream_id, revision) values (?, ?) on conflict (stream_id) do update set revision = streams.revision + ? returning revision', [stream, count - 1, count]];
    }
    if (expected === 'exists') return ['update streams set revision = revision + ? where stream_id = ? returning revision', [count, stream]];
    return ['update streams set revision = revision + ? where stream_id = ? and revision = ? returning revision', [count, stream, expected]];
  };

  const currentRevision = async (q: Knex | Knex.Transaction, stream: string): Promise<number | 'no_stream'> => {
    const [r] = await rows<{ revision: string }>(q.raw('select revision::text from streams where stream_id = ?', [stream]));
    return r ? Number(r.revision) : 'no_stream';
  };

  const unchanged = async (q: Knex | Knex.Transaction, stream: string, expected: ExpectedRevision): Promise<AppendResult> => {
    const actual = await currentRevision(q, stream);
    if ((expected === 'no_stream' && actual !== 'no_stream') || (expected === 'exists' && actual === 'no_stream') || (typeof expected === 'number' && actual !== expected)) {
      throw new WrongExpectedRevisionError(stream, expected, actual);
    }
    return { revision: actual === 'no_stream' ? -1 : actual, position: START, events: [] };
  };

  /**
   * One statement claims the revisions and inserts the events of every append in the batch (each
   * append a pair of CTEs), so a batch is atomic and costs one round trip; each insert is the first
   * write after its own revision check. An append whose claim found no row did not hold its expected
   * revision: nothing of it was written, and it alone fails. A stream appears once per batch.
   */
  const writeAppends = async (q: Knex | Knex.Transaction, batch: ReadonlyArray<AppendRequest>): Promise<Array<AppendResult | Error>> => {
    const ctes: string[] = [];
    const params: unknown[] = [];
    batch.forEach(({ stream, events, expected }, k) => {
      const [claimSql, claimParams] = claim(stream, events.length, expected);
      ctes.push(
        `c${k} as (${claimSql})`,
        `i${k} as (insert into events (event_id, stream_id, revision, type, data, metadata)
         select v.event_id, ?, c${k}.revision - ? + v.ord, v.type, v.data, v.metadata
         from c${k} cross join (values ${events.map(() => '(?::int, ?::uuid, ?::text, ?::jsonb, ?::jsonb)').join(', ')}) as v (ord, event_id, type, data, metadata)${shared ? `\n         cross join (select pg_notify('${appendChannel}', '')) as announced` : ''}
         order by v.ord
         returning ${k} as k, ${columns})`,
      );
      params.push(...claimParams, stream, events.length - 1, ...events.flatMap((e, i) => [i, e.id, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)]));
    });
    const inserted = await rows<EventRow & { k: number }>(
      q.raw(`with ${ctes.join(',\n')}\n${batch.map((_, k) => `select * from i${k}`).join(' union all ')}`, params as Knex.RawBinding[]),
    );
    return Promise.all(
      batch.map(async ({ stream, expected }, k) => {
        const recorded = inserted.filter((r) => r.k === k).map(toRecorded).sort((a, b) => a.revision - b.revision);
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
    const [r] = await rows<{ xmin: string }>(db.raw('select pg_snapshot_xmin(pg_current_snapshot())::text as xmin'));
    return r!.xmin;
  };

  /**
   * One page of the log after `from`. A filtered read scans a window of `limit` events in log order
   * (on the log-order index) and keeps those that match, so a rare type never costs a scan of the
   * whole log; `next` then moves past the window even when nothing in it matched.
   */
  const readAll = async (from: Position, opts: ReadAllOptions = {}): Promise<Page> => {
    const limit = opts.limit ?? defaultPage;
    const [xid, seq] = decode(from);
    // Every transaction below xmin has ended: what is visible below it is final.
    const xmin = await horizon();
    const after = '(transaction_id, global_position) > (?::text::xid8, ?::bigint) and transaction_id < ?::text::xid8';
    const types = opts.filter?.types ?? [];
    let scanned: EventRow[];
    let events: RecordedEvent[];
    if (types.length === 0) {
      scanned = await rows<EventRow>(db.raw(`select ${columns} from events where ${after} order by transaction_id, global_position limit ?`, [xid, seq, xmin, limit]));
      events = scanned.map(toRecorded);
    } else {
      const [match, params] = typeMatch(types);
      scanned = await rows<EventRow & { matches: boolean }>(
        db.raw(
          `with scanned as (
             select global_position, transaction_id, ${match} as matches from events where ${after}
             order by transaction_id, global_position limit ?)
           select scanned.global_position::text as window_gp, scanned.transaction_id::text as window_xid, scanned.matches, ${columnsOf('e')}
           from scanned left join events e on e.global_position = scanned.global_position and scanned.matches
           order by scanned.transaction_id, scanned.global_position`,
          [...params, xid, seq, xmin, limit] as Knex.RawBinding[],
        ),
      );
      events = (scanned as Array<EventRow & { matches: boolean }>).filter((r) => r.matches).map(toRecorded);
    }
    const atEnd = scanned.length < limit;
    const last = scanned[scanned.length - 1] as (EventRow & { window_xid?: string; window_gp?: string }) | undefined;
    const next = atEnd ? maxPosition(from, encode(xmin, 0)) : encode(last!.window_xid ?? last!.xid, last!.window_gp ?? last!.gp);
    return { events, next, atEnd };
  };

  /**
   * The newest committed event's position (START when there is none): at or after every committed
   * event, and no further, so that a follower told of no append since has already passed it.
   */
  const head = async () => {
    const [last] = await rows<{ xid: string; gp: string }>(db.raw('select transaction_id::text as xid, global_position::text as gp from events order by transaction_id desc, global_position desc limit 1'));
    return last ? encode(last.xid, last.gp) : START;
  };

  /** Whether events past `cursor` are committed but not yet readable: an older transaction still open holds the horizon back. */
  const heldBack = async (cursor: Position): Promise<boolean> => {
    const [xid, seq] = decode(cursor);
    const [r] = await rows<{ n: number }>(db.raw('select 1 as n from events where (transaction_id, global_position) > (?::text::xid8, ?::bigint) limit 1', [xid, seq]));
    return r !== undefined;
  };

  // from the horizon, not the head: a transaction still open now may commit an event below the head later
  const tail = createLogTail({ readAll, heldBack, start: async () => encode(await horizon(), 0) }, { ...options.tail, onError: options.onError });
  const listener = shared ? listenForAppends(db, tail.wake, options.onError ?? (() => {})) : null;
  // an embedded database lives in this process: every store on it hears of its appends from here
  const neighbours = embeddedStores.get(db) ?? new Set<() => void>();
  embeddedStores.set(db, neighbours);
  if (!shared) neighbours.add(tail.wake);
  const announce = () => neighbours.forEach((wake) => wake());

  return {
    appendWithin,
    append: (stream, events, expected) => (events.length === 0 ? unchanged(db, stream, expected) : groupCommit({ stream, events, expected })),
    async readStream(stream, fromRevision = 0) {
      const found = await rows<EventRow>(
        db.raw(`select ${columns} from events where stream_id = ? and revision >= ? order by revision`, [stream, fromRevision]),
      );
      return found.map(toRecorded);
    },
    async readLast(stream) {
      const [last] = await rows<EventRow>(db.raw(`select ${columns} from events where stream_id = ? order by revision desc limit 1`, [stream]));
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

import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START as ES_START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type Position as EsPosition,
  type ReadPosition,
  type ResolvedEvent,
  type StreamingRead,
} from '@eventstore/db-client';
import type { Readable } from 'node:stream';
import type { ActionFilter } from '../../domain/audit/action-filter.ts';
import { matchesActions } from '../../domain/audit/action-filter.ts';
import type { EventMetadata, NewEvent, Position, RecordedEvent } from '../../domain/events/envelope.ts';
import {
  appendOfNothing,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type Page,
  type ReadAllOptions,
  START,
  type SubscribeOptions,
  WrongExpectedRevisionError,
} from './port.ts';

/**
 * EventStoreDB (or KurrentDB) over gRPC. A position is `{commit, prepare}`, each zero-padded to the
 * twenty digits of a 64-bit number, so that string order is log order. System events (types that
 * begin with `$`) are never returned; `$all` is Gyre's audit log.
 */

const DIGITS = 20;

export const encodePosition = (p: EsPosition): Position => `${p.commit.toString().padStart(DIGITS, '0')}/${p.prepare.toString().padStart(DIGITS, '0')}`;

const decodePosition = (p: Position): ReadPosition => {
  if (p === START) return ES_START;
  const m = /^(\d{20})\/(\d{20})$/.exec(p);
  if (!m) throw new Error(`not an EventStoreDB position: ${p}`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
};

const isSystem = (type: string) => type.startsWith('$');

/** An event copied from another log keeps the time that log recorded it (`gyre events copy`), not the time of the copy. */
const toRecorded = (e: NonNullable<ResolvedEvent['event']>): RecordedEvent => {
  const metadata = e.metadata as unknown as EventMetadata;
  return {
    id: e.id,
    type: e.type,
    data: e.data,
    metadata,
    stream: e.streamId,
    revision: Number(e.revision),
    position: encodePosition(e.position!),
    // another application's event in a shared cluster may carry no metadata at all
    occurredAt: typeof metadata?.occurredAt === 'string' ? metadata.occurredAt : e.created.toISOString(),
  };
};

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The server-side filter for the port's: exact types and prefixes in one regular expression, system events never matching. */
export const typeRegex = (types: ReadonlyArray<ActionFilter>): string => {
  if (types.length === 0) return '^[^$]';
  const alternatives = types.map((t) => ('exact' in t ? `${escapeRegex(t.exact)}$` : escapeRegex(t.prefix)));
  return `^(?:${alternatives.join('|')})`;
};

const expectedRevision = (expected: ExpectedRevision): AppendExpectedRevision =>
  expected === 'no_stream' ? NO_STREAM : expected === 'exists' ? STREAM_EXISTS : expected === 'any' ? ANY : BigInt(expected);

/**
 * Takes the events of a read while `more` says so and reads the rest untaken, so every read is bounded (`maxCount`); it cancels
 * the call however the loop ends. With client 6.2.1, a read left early stays open, even cancelled once the server has sent
 * all of it (what gRPC buffered is never read), and `dispose()` then never returns.
 */
const take = async <E>(read: StreamingRead<E>, more: (e: E) => boolean) => {
  let taking = true;
  try {
    for await (const e of read) if (taking) taking = more(e);
  } finally {
    await read.cancel();
  }
};

/** Events per read backwards, to find the last event that is not the server's own. */
const BACK_PAGE = 32;

/** A checkpoint, put in the subscription's own output so that it arrives in order with the events. */
interface CheckpointMark {
  readonly checkpoint: EsPosition;
}
type Item = AllStreamResolvedEvent | CheckpointMark;

type Taken = { items: Item[] } | { ended: true } | { aborted: true } | { idle: true };

/**
 * Waits until the subscription holds something, then takes what it holds now, up to `max`. With `quiet.unsettled`, or once
 * `quiet.wake` is called, it answers `idle` after `quiet.ms` without anything.
 */
const takeAvailable = (sub: Readable, max: number, signal: AbortSignal, quiet: { ms: number; unsettled: boolean; wake?: () => void }): Promise<Taken> =>
  new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const idleSoon = () => (timer ??= setTimeout(() => finish(() => resolve({ idle: true })), quiet.ms));
    if (quiet.unsettled) idleSoon();
    quiet.wake = idleSoon;
    const finish = (outcome: () => void) => {
      clearTimeout(timer);
      quiet.wake = undefined;
      sub.off('readable', attempt);
      sub.off('error', failed);
      sub.off('end', ended);
      sub.off('close', ended);
      signal.removeEventListener('abort', aborted);
      outcome();
    };
    const attempt = () => {
      const items: Item[] = [];
      for (let item: Item | null; items.length < max && (item = sub.read() as Item | null) !== null; ) items.push(item);
      if (items.length) finish(() => resolve({ items }));
      else if (sub.readableEnded || sub.destroyed) finish(() => resolve({ ended: true }));
    };
    const failed = (e: unknown) => finish(() => reject(e));
    const ended = () => finish(() => resolve({ ended: true }));
    const aborted = () => finish(() => resolve({ aborted: true }));
    if (signal.aborted) return resolve({ aborted: true });
    sub.on('readable', attempt);
    sub.on('error', failed);
    sub.on('end', ended);
    sub.on('close', ended);
    signal.addEventListener('abort', aborted);
    attempt();
  });

export interface EventStoreDbOptions {
  /** Events per page when a read names no limit. */
  readonly pageSize?: number;
  /** Events the server scans between two checkpoints of a filtered subscription: small, so that `next` moves when a filter matches little. */
  readonly checkpointEvery?: number;
  /** Told when a subscription's connection drops; the subscription resubscribes by itself. */
  readonly onError?: (error: unknown) => void;
  /** The longest wait between two attempts to resubscribe. */
  readonly maxRetryMs?: number;
  /** How long a subscription waits for the server after an append of this store before it looks past events its filter skips. */
  readonly settleMs?: number;
}

export interface EventStoreDbEventStore extends EventStore {
  readonly client: EventStoreDBClient;
}

/** Errors after which a subscription resubscribes from where it was, rather than ending. */
const transient = (e: unknown) =>
  typeof e === 'object' &&
  e !== null &&
  'type' in e &&
  [ErrorType.UNAVAILABLE, ErrorType.CANCELLED, ErrorType.DEADLINE_EXCEEDED, ErrorType.NOT_LEADER].includes((e as { type: ErrorType }).type);

export const createEventStoreDbEventStore = (connectionString: string, options: EventStoreDbOptions = {}): EventStoreDbEventStore => {
  const client = EventStoreDBClient.connectionString(connectionString);
  const pageSize = options.pageSize ?? 500;
  const checkpointEvery = options.checkpointEvery ?? 32;
  const maxRetryMs = options.maxRetryMs ?? 2000;
  const settleMs = options.settleMs ?? 10;
  const live = new Set<AbortController>();
  /** Told of each append of this store: a subscription whose filter skips the new events moves past them (`settle` below). */
  const appended = new Set<() => void>();
  let closed = false;

  const readStream = async (stream: string, fromRevision = 0, maxCount?: number): Promise<RecordedEvent[]> => {
    const found: RecordedEvent[] = [];
    try {
      await take(client.readStream(stream, { fromRevision: BigInt(fromRevision), direction: FORWARDS, ...(maxCount ? { maxCount } : {}) }), (e) => {
        if (e.event && !isSystem(e.event.type)) found.push(toRecorded(e.event));
        return true;
      });
    } catch (e) {
      if (e instanceof StreamNotFoundError) return [];
      throw e;
    }
    return found;
  };

  const readLast = async (stream: string): Promise<RecordedEvent | undefined> => {
    for (let from: bigint | typeof END = END; ; ) {
      let last: RecordedEvent | undefined;
      let oldest: bigint | undefined;
      let count = 0;
      try {
        await take(client.readStream(stream, { fromRevision: from, direction: BACKWARDS, maxCount: BACK_PAGE }), (e) => {
          count++;
          if (e.event) oldest = e.event.revision;
          if (!e.event || isSystem(e.event.type)) return true;
          last = toRecorded(e.event);
          return false;
        });
      } catch (e) {
        if (e instanceof StreamNotFoundError) return undefined;
        throw e;
      }
      if (last || count < BACK_PAGE || !oldest) return last;
      from = oldest - 1n;
    }
  };

  const append = async (stream: string, events: ReadonlyArray<NewEvent>, expected: ExpectedRevision): Promise<AppendResult> => {
    if (events.length === 0) return appendOfNothing(stream, expected, (await readLast(stream))?.revision ?? 'no_stream');
    let revision: number;
    try {
      const result = await client.appendToStream(
        stream,
        events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data as never, metadata: e.metadata })),
        { expectedRevision: expectedRevision(expected) },
      );
      revision = Number(result.nextExpectedRevision);
    } catch (e) {
      if (e instanceof WrongExpectedVersionError) {
        const actual = e.actualVersion;
        throw new WrongExpectedRevisionError(stream, expected, typeof actual === 'bigint' ? Number(actual) : 'no_stream');
      }
      throw e;
    }
    // the append answers with the last revision only: the events' own positions and commit time are read back
    const recorded = await readStream(stream, revision - events.length + 1, events.length);
    for (const wake of appended) wake();
    return { revision, position: recorded[recorded.length - 1]!.position, events: recorded };
  };

  /** `limit` events of the log after `from`, and those of them that pass the filter: a window, so that a rare type does not read the whole log at once. */
  const readAll = async (from: Position, opts: ReadAllOptions = {}): Promise<Page> => {
    const limit = opts.limit ?? pageSize;
    const types = opts.filter?.types ?? [];
    const scanned: RecordedEvent[] = [];
    let next = from;
    let count = 0;
    // a read forwards from a position includes the event at it
    await take(client.readAll({ fromPosition: decodePosition(from), direction: FORWARDS, maxCount: limit + 1 }), (e) => {
      if (!e.event) return true;
      const position = encodePosition(e.event.position);
      if (position <= from) return true;
      count++;
      next = position;
      if (!isSystem(e.event.type) && matchesActions(types, e.event.type)) scanned.push(toRecorded(e.event));
      return count < limit;
    });
    return { events: scanned, next, atEnd: count < limit };
  };

  const head = async (): Promise<Position> => {
    for (let from: ReadPosition = END; ; ) {
      let found: Position | undefined;
      let oldest: EsPosition | undefined;
      let count = 0;
      await take(client.readAll({ fromPosition: from, direction: BACKWARDS, maxCount: BACK_PAGE }), (e) => {
        count++;
        if (e.event) oldest = e.event.position;
        if (!e.event || isSystem(e.event.type)) return true;
        found = encodePosition(e.event.position);
        return false;
      });
      if (found) return found;
      if (count < BACK_PAGE || !oldest) return START;
      from = oldest;
    }
  };

  async function* subscribe(from: Position | 'end', opts: SubscribeOptions = {}): AsyncGenerator<Page> {
    if (opts.signal?.aborted || closed) return;
    const controller = new AbortController();
    const stop = () => controller.abort();
    opts.signal?.addEventListener('abort', stop);
    live.add(controller);
    const limit = opts.limit ?? pageSize;
    const regex = typeRegex(opts.filter?.types ?? []);
    const types = opts.filter?.types ?? [];
    let next = from === 'end' ? await head() : from;
    // the last event taken: checkpoints move `next`, never this, so an event at a checkpoint's position is still taken
    let lastEvent = next;
    let wait = 50;
    // The server checkpoints a filtered subscription every `checkpointEvery` events it scans, so `next` may stay up to that
    // many events behind the head: a reader waiting for its own append would wait for later appends. After something
    // arrived or this store appended, once the subscription has been quiet for `settleMs`, a read of the log's last
    // events finds whether any of them would pass the filter; when none does, `next` moves past them.
    const quiet: { ms: number; unsettled: boolean; wake?: () => void } = { ms: settleMs, unsettled: true };
    const wake = () => {
      quiet.unsettled = true;
      quiet.wake?.();
    };
    appended.add(wake);
    const settle = async (): Promise<Page | null> => {
      quiet.unsettled = false;
      const page = await readAll(next, { filter: { types }, limit: checkpointEvery + 1 });
      if (!page.atEnd || page.events.length > 0) return null;
      if (page.next > next) next = page.next;
      if (next > lastEvent) lastEvent = next;
      // the end of the log now: a projection is caught up (the live subscription itself never says so)
      return { events: [], next, atEnd: true };
    };
    try {
      while (!controller.signal.aborted) {
        const sub = client.subscribeToAll({
          fromPosition: decodePosition(next),
          filter: eventTypeFilter({
            regex,
            maxSearchWindow: checkpointEvery,
            checkpointInterval: 1,
            checkpointReached: (s, checkpoint) => {
              s.push({ checkpoint } satisfies CheckpointMark);
            },
          }),
        });
        // an error between two takes (the CANCELLED of its own unsubscribe, a dropped call) ends the stream: the next take
        // finds it ended and throws it; without a listener it would be an unhandled 'error' event
        let failure: unknown;
        sub.on('error', (e) => {
          failure = e;
        });
        try {
          for (;;) {
            const taken = await takeAvailable(sub as unknown as Readable, limit, controller.signal, quiet);
            if ('aborted' in taken) return;
            if ('ended' in taken) throw failure ?? Object.assign(new Error('the subscription ended'), { type: ErrorType.UNAVAILABLE });
            if ('idle' in taken) {
              const settled = await settle();
              if (settled) yield settled;
              continue;
            }
            quiet.unsettled = true;
            wait = 50;
            const events: RecordedEvent[] = [];
            let moved = next;
            for (const item of taken.items) {
              if ('checkpoint' in item) {
                const at = encodePosition(item.checkpoint);
                if (at > moved) moved = at;
                continue;
              }
              if (!item.event) continue;
              const at = encodePosition(item.event.position);
              if (at <= lastEvent) continue;
              lastEvent = at;
              if (at > moved) moved = at;
              if (!isSystem(item.event.type)) events.push(toRecorded(item.event));
            }
            if (moved === next && events.length === 0) continue;
            next = moved;
            yield { events, next, atEnd: false };
          }
        } catch (e) {
          if (controller.signal.aborted) return;
          if (!transient(e)) throw e;
          options.onError?.(e);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            controller.signal.addEventListener(
              'abort',
              () => {
                clearTimeout(timer);
                resolve();
              },
              { once: true },
            );
          });
          wait = Math.min(wait * 2, maxRetryMs);
        } finally {
          await sub.unsubscribe();
          sub.destroy();
        }
      }
    } finally {
      appended.delete(wake);
      opts.signal?.removeEventListener('abort', stop);
      live.delete(controller);
    }
  }

  return {
    client,
    append,
    readStream: (stream, fromRevision) => readStream(stream, fromRevision),
    readLast,
    readAll,
    subscribe,
    head,
    async close() {
      closed = true;
      for (const c of live) c.abort();
      await client.dispose();
    },
  };
};

/** Opens the store and reads the log's head once, so that a wrong address or a server that is down stops start-up here. */
export const connectEventStoreDb = async (
  connectionString: string,
  options: EventStoreDbOptions & { readonly variable?: string } = {},
): Promise<EventStoreDbEventStore> => {
  let store: EventStoreDbEventStore;
  try {
    store = createEventStoreDbEventStore(connectionString, options);
  } catch (e) {
    throw new Error(
      // the client's parser quotes the text it did not expect, which may be part of a password: its position only
      `${options.variable ?? 'the EventStoreDB connection string'} is not a valid EventStoreDB connection string (esdb://host:2113?tls=false): ${(e as Error).message.replace(/Unexpected ".*" at/s, 'unexpected text at')}`,
    );
  }
  try {
    await store.head();
    return store;
  } catch (e) {
    await store.close().catch(() => {});
    throw new Error(
      `cannot reach EventStoreDB at ${redacted(connectionString)} (${options.variable ?? 'connection string'}): ${(e as Error).message}; check the address, TLS and the server`,
    );
  }
};

/** The connection string without a user's password. */
export const redacted = (connectionString: string) => connectionString.replace(/\/\/[^?#]*@/, '//***@');

import { matchesActions, type ActionFilter } from '../../domain/audit/action-filter.ts';
import type { Position, RecordedEvent } from '../../domain/events/envelope.ts';
import type { Page, ReadAllOptions, SubscribeOptions } from './port.ts';

/** A page of the log, and whether events past it are committed but not yet readable (an older transaction holds them back). */
export interface TailRead extends Page {
  readonly heldBack: boolean;
}

/** What the tail needs of a store. */
export interface TailSource {
  /** One look at the log: a page after `from`, and at its end whether anything is held back. */
  readAll(from: Position, options?: ReadAllOptions): Promise<TailRead>;
  /** Where a subscription `from: 'end'` starts: nothing before it is delivered, nothing after it is missed. */
  start(): Promise<Position>;
}

export interface LogTail {
  subscribe(from: Position | 'end', options?: SubscribeOptions): AsyncGenerator<Page>;
  /** Something was appended (here, or in another process): the tail reads on. */
  wake(): void;
  close(): void;
}

export interface LogTailOptions {
  /** Events the tail reads at once. */
  readonly pageSize?: number;
  /** Events kept in memory for subscribers a little behind; one further behind reads the store itself. */
  readonly retainEvents?: number;
  /** Pages kept of what subscribers further behind read from the store, so that those catching up together read the log once. */
  readonly catchUpPages?: number;
  /** How soon the tail looks again while committed events are held back by an older open transaction. */
  readonly heldBackPollMs?: number;
  /** Told when a read of the log fails; the tail tries again. */
  readonly onError?: (error: unknown) => void;
}

interface TailPage {
  readonly from: Position;
  readonly next: Position;
  readonly events: ReadonlyArray<RecordedEvent>;
  readonly atEnd: boolean;
}

/**
 * One reader of the log per store: it reads the whole log as appends wake it and keeps its recent pages,
 * and every subscriber (projections, reactors, live subscriptions) takes its events from them, filtered
 * in memory. A subscriber behind the retained pages catches up by reading the store itself, then joins.
 * The tail reads only while someone subscribes, and nothing at all while no append wakes it.
 */
export const createLogTail = (source: TailSource, options: LogTailOptions = {}): LogTail => {
  const pageSize = options.pageSize ?? 2000;
  const retainEvents = options.retainEvents ?? 2000;
  const heldBackPollMs = options.heldBackPollMs ?? 5;
  const catchUpPages = options.catchUpPages ?? 8;
  let pages: TailPage[] = [];
  // pages read for subscribers behind the tail, newest last, and the reads under way by their start
  let behind: TailPage[] = [];
  const reading = new Map<Position, Promise<TailPage>>();
  let retained = 0;
  let cursor: Position | null = null;
  let subscribers = 0;
  let running: Promise<void> | null = null;
  let closed = false;
  let woken = false;
  // resolved when an append is announced (or on close), then replaced
  let wakeSignal = deferred();
  // resolved when the tail adds a page (or on close), then replaced
  let movedSignal = deferred();

  const moved = () => {
    movedSignal.resolve();
    movedSignal = deferred();
  };
  const wake = () => {
    woken = true;
    wakeSignal.resolve();
  };

  const keep = (page: TailPage) => {
    pages.push(page);
    retained += page.events.length;
    while (pages.length > 1 && (retained > retainEvents || pages.length > 1024)) retained -= pages.shift()!.events.length;
  };

  /**
   * The page of the log holding `at` for a subscriber behind what the tail keeps: one read already made
   * (or under way) for another subscriber, or a new one, whole, that every subscriber filters itself.
   */
  const behindPage = (at: Position): Promise<TailPage> => {
    const kept = behind.find((p) => p.from <= at && at < p.next);
    if (kept) return Promise.resolve(kept);
    let read = reading.get(at);
    if (!read) {
      read = source.readAll(at, { limit: pageSize }).then((page) => {
        const read: TailPage = { from: at, next: page.next, events: page.events, atEnd: page.atEnd };
        if (read.next !== at) behind = [...behind.slice(1 - catchUpPages), read];
        return read;
      });
      reading.set(at, read);
      void read.then(
        () => reading.delete(at),
        () => reading.delete(at),
      );
    }
    return read;
  };

  /** A page's events after `at` that a subscriber takes, in chunks of at most `limit`. */
  function* chunks(page: TailPage, at: Position, types: ReadonlyArray<ActionFilter>, limit: number, atEnd: boolean) {
    const events = page.events.filter((e) => e.position > at && matchesActions(types, e.type));
    for (let i = 0; i < events.length; i += limit) {
      const chunk = events.slice(i, i + limit);
      const last = i + limit >= events.length;
      yield { events: chunk, next: last ? page.next : chunk[chunk.length - 1]!.position, atEnd: last && atEnd };
    }
    if (events.length === 0) yield { events: [], next: page.next, atEnd };
  }

  const sleepUnlessWoken = async (ms: number | null) => {
    if (woken) return;
    const timer = ms === null ? null : new Promise<void>((r) => setTimeout(r, ms).unref());
    await Promise.race(timer ? [wakeSignal.promise, timer] : [wakeSignal.promise]);
  };

  const run = async () => {
    let failures = 0;
    while (!closed && subscribers > 0) {
      woken = false;
      wakeSignal = deferred();
      try {
        if (cursor === null) {
          cursor = await source.start();
          // subscribers behind the tail's first position learn that they are behind
          moved();
          continue;
        }
        // one statement: the page, and at the log's end whether committed events wait behind an open transaction
        const page = await source.readAll(cursor, { limit: pageSize });
        failures = 0;
        if (page.next !== cursor) {
          keep({ from: cursor, next: page.next, events: page.events, atEnd: page.atEnd });
          cursor = page.next;
          moved();
        }
        if (page.atEnd) await sleepUnlessWoken(page.heldBack ? heldBackPollMs : null);
      } catch (e) {
        // the database is away (a restart, a network fault): try again, more slowly each time
        options.onError?.(e);
        failures++;
        await sleepUnlessWoken(Math.min(50 * 2 ** failures, 5000));
      }
    }
  };

  const ensureRunning = () => {
    if (running || closed || subscribers === 0) return;
    running = run().finally(() => {
      running = null;
      if (subscribers === 0) {
        // nobody followed for a while: what the tail holds may have a gap before its next read
        pages = [];
        behind = [];
        retained = 0;
        cursor = null;
      }
      ensureRunning();
    });
  };

  async function* subscribe(from: Position | 'end', opts: SubscribeOptions = {}): AsyncGenerator<Page> {
    const types = opts.filter?.types ?? [];
    const limit = opts.limit ?? 500;
    const signal = opts.signal;
    let at = from === 'end' ? await source.start() : from;
    let stop = () => {};
    const stopped = signal ? new Promise<void>((resolve) => (stop = resolve)) : null;
    signal?.addEventListener('abort', stop, { once: true });
    subscribers++;
    ensureRunning();
    try {
      while (!closed && !signal?.aborted) {
        const index = pages.findIndex((p) => p.from <= at && at < p.next);
        if (index >= 0) {
          const page = pages[index]!;
          for (const chunk of chunks(page, at, types, limit, index === pages.length - 1 && page.atEnd)) {
            at = chunk.next;
            yield chunk;
          }
          continue;
        }
        const oldest = pages[0]?.from;
        if (cursor !== null && at < cursor && (oldest === undefined || at < oldest)) {
          // behind what the tail keeps: catch up from the store, on pages shared with others behind
          const page = await behindPage(at);
          if (page.next === at) continue;
          for (const chunk of chunks(page, at, types, limit, page.atEnd)) {
            at = chunk.next;
            yield chunk;
          }
          continue;
        }
        await (stopped ? Promise.race([movedSignal.promise, stopped]) : movedSignal.promise);
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      // the last one gone: the tail wakes to see that, and stops
      if (--subscribers === 0) wake();
    }
  }

  return {
    subscribe,
    wake,
    close() {
      closed = true;
      wake();
      moved();
    },
  };
};

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

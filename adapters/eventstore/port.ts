import { ConflictError } from '../../domain/errors.ts';
import type { ActionFilter } from '../../domain/audit/action-filter.ts';
import type { NewEvent, Position, RecordedEvent } from '../../domain/events/envelope.ts';

/** `no_stream`: must not exist; `exists`: must exist; `any`: no check; a number: the stream's last revision. */
export type ExpectedRevision = 'no_stream' | 'exists' | 'any' | number;

/** Sorts before every position. */
export const START: Position = '';

export interface EventFilter {
  /** Event types, exact or by `prefix.*`; none means every type. */
  readonly types?: ReadonlyArray<ActionFilter>;
}

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  readonly revision: number;
  /** Position of the last appended event. */
  readonly position: Position;
  readonly events: ReadonlyArray<RecordedEvent>;
}

/** A page of the global log: `next` is where to continue, and may lie past the last event when a filter skipped some. */
export interface Page {
  readonly events: ReadonlyArray<RecordedEvent>;
  readonly next: Position;
  /** True when the read reached the end of what is visible now; a filtered page may hold few events and still not be at the end. */
  readonly atEnd: boolean;
}

export interface ReadAllOptions {
  readonly filter?: EventFilter;
  readonly limit?: number;
}

export interface SubscribeOptions extends ReadAllOptions {
  readonly signal?: AbortSignal;
}

/**
 * The event log. Every adapter passes the suite in `contract.ts`.
 * Reads never return an event from a transaction that may still commit before an earlier one,
 * so a reader that follows `next` sees every committed event exactly once, in position order.
 */
export interface EventStore {
  append(stream: string, events: ReadonlyArray<NewEvent>, expected: ExpectedRevision): Promise<AppendResult>;
  /** Events of one stream from a revision on, oldest first. */
  readStream(stream: string, fromRevision?: number): Promise<RecordedEvent[]>;
  /** The last event of a stream, or undefined when there is none. */
  readLast(stream: string): Promise<RecordedEvent | undefined>;
  readAll(from: Position, options?: ReadAllOptions): Promise<Page>;
  /** Catch up from a position, then follow live; yields only pages that move `next` or that reached the end of the log. */
  subscribe(from: Position | 'end', options?: SubscribeOptions): AsyncIterable<Page>;
  /** The newest committed event's position: at or after every event committed now (followers pass it once they have read them all). */
  head(): Promise<Position>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends ConflictError {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`stream ${stream} is at revision ${actual}, not ${expected}: it changed since it was read; read it again and retry`);
  }
}

/** An append of no events: it changes nothing, but its expected revision is checked as any append's is. */
export const appendOfNothing = (stream: string, expected: ExpectedRevision, actual: number | 'no_stream'): AppendResult => {
  if (
    (expected === 'no_stream' && actual !== 'no_stream') ||
    (expected === 'exists' && actual === 'no_stream') ||
    (typeof expected === 'number' && actual !== expected)
  )
    throw new WrongExpectedRevisionError(stream, expected, actual);
  return { revision: actual === 'no_stream' ? -1 : actual, position: START, events: [] };
};

export const maxPosition = (a: Position, b: Position): Position => (a > b ? a : b);

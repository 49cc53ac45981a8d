import { randomUUID } from 'node:crypto';
import { fold, type Decider } from '../domain/decider.ts';
import { refusalReason } from '../domain/audit/refusal.ts';
import {
  EventMetadata,
  type CommandContext,
  type DomainEvent,
  type NewEvent,
  type Position,
  type RecordedEvent,
  type Reference,
} from '../domain/events/envelope.ts';
import type { EventRegistry, RefusalData } from '../domain/events/registry.ts';
import { WrongExpectedRevisionError, type EventStore, type ExpectedRevision } from '../adapters/eventstore/port.ts';

/** Each refused attempt gets a stream of its own, which no aggregate folds, so refusals never queue on one row. */
export const refusalStream = (id: string) => `refusal-${id}`;

export interface Execution<S, C, E extends DomainEvent> {
  readonly stream: string;
  readonly decider: Decider<S, C, E>;
  readonly command: C;
  readonly context: CommandContext;
  readonly target: Reference | ((state: S) => Reference);
  readonly scope?: Reference | null;
  /**
   * The stream's last event alone holds its state (a counter): only that event is read, however long
   * the stream. A function says of the last event whether it does (events of an earlier shape may not:
   * then the stream is read whole, until an event of the new shape is its last).
   */
  readonly lastEventOnly?: boolean | ((last: RecordedEvent) => boolean);
  /** Streams many writers share (a job's parallel tasks) may take more attempts than the default. */
  readonly maxAttempts?: number;
  /** The stream as the caller has just read it: decided on first, as a remembered stream is, and read again only if it moved since. */
  readonly history?: ReadonlyArray<RecordedEvent>;
}

export interface Executed<S> {
  readonly events: ReadonlyArray<RecordedEvent>;
  /** Position of the last event appended; null when the command changed nothing. */
  readonly position: Position | null;
  readonly state: S;
}

export interface CommandHandler {
  /** Loads the stream, folds it, decides, and appends at the revision it read; retries a bounded number of times on conflict. */
  execute<S, C, E extends DomainEvent>(execution: Execution<S, C, E>): Promise<Executed<S>>;
  /** Appends events that belong to no aggregate's rules (an export, a refusal). */
  record(
    stream: string,
    event: DomainEvent,
    envelope: { context: CommandContext; target: Reference; scope?: Reference | null; success?: boolean },
  ): Promise<RecordedEvent>;
  /** Records a refused attempt; null when it was only counted (application/refusals.ts bounds what refusals append). */
  refuse(action: string, refusal: RefusalData, envelope: { context: CommandContext; target?: Reference }): Promise<RecordedEvent | null>;
  /** Events in their audit envelope, checked against their schemas, for a use case that appends them itself (a step of a change across streams). */
  envelop(events: ReadonlyArray<DomainEvent>, envelope: { context: CommandContext; target: Reference; scope?: Reference | null }): NewEvent[];
}

export interface CommandHandlerOptions {
  readonly maxAttempts?: number;
  /** Events, over every stream, of the streams this handler wrote last that it remembers (0: none); see `recentStreams`. */
  readonly recentEvents?: number;
}

interface Recent {
  readonly events: ReadonlyArray<RecordedEvent>;
  /** The whole stream, or only its last event (a `lastEventOnly` stream). */
  readonly whole: boolean;
}

/** The longest stream remembered whole: a longer one is read each time. */
const longestRemembered = 1000;

/**
 * The streams this handler wrote last, as it wrote them, so that the next command on one of them can
 * decide without reading it first: one round trip (the append) instead of two. What it holds is only
 * ever a guess, confirmed by the append's revision check: when another writer came in between, the
 * append fails with a conflict and the command reads the stream and decides again. A decision the guess
 * refuses, or that changes nothing, is made again on the stream as read, so a stale guess never answers
 * a caller. It holds at most `capacity` events in all; the least recently used stream is forgotten first.
 */
const recentStreams = (capacity: number) => {
  const held = new Map<string, Recent>();
  let events = 0;
  const forget = (stream: string) => {
    events -= held.get(stream)?.events.length ?? 0;
    held.delete(stream);
  };
  return {
    get(stream: string, lastEventOnly: boolean): ReadonlyArray<RecordedEvent> | undefined {
      const recent = held.get(stream);
      if (!recent || (!recent.whole && !lastEventOnly)) return undefined;
      held.delete(stream);
      held.set(stream, recent);
      return lastEventOnly ? recent.events.slice(-1) : recent.events;
    },
    remember(stream: string, history: ReadonlyArray<RecordedEvent>, appended: ReadonlyArray<RecordedEvent>, lastEventOnly: boolean) {
      forget(stream);
      const kept = lastEventOnly ? appended.slice(-1) : [...history, ...appended];
      if (kept.length > Math.min(longestRemembered, capacity)) return;
      held.set(stream, { events: kept, whole: !lastEventOnly });
      events += kept.length;
      while (events > capacity) forget(held.keys().next().value!);
    },
    forget,
  };
};

/** A handler's own `refuse` appends every refusal it is given. */
export type RecordingCommandHandler = Omit<CommandHandler, 'refuse'> & {
  refuse(action: string, refusal: RefusalData, envelope: { context: CommandContext; target?: Reference }): Promise<RecordedEvent>;
};

export const createCommandHandler = (store: EventStore, registry: EventRegistry, options: CommandHandlerOptions = {}): RecordingCommandHandler => {
  const maxAttempts = options.maxAttempts ?? 5;
  const recent = recentStreams(options.recentEvents ?? 10_000);

  /** Wraps a domain event in its audit envelope; an event that fails its schema stops here. */
  const envelop = (e: DomainEvent, context: CommandContext, target: Reference, scope: Reference | null, success: boolean): NewEvent => {
    const data = registry.parse(e.type, e.data, success);
    const id = randomUUID();
    return {
      id,
      type: e.type,
      data,
      metadata: EventMetadata.parse({
        actor: context.actor,
        target,
        scope,
        request: context.request,
        success,
        metadata: {},
        version: registry.get(e.type)!.version,
        $correlationId: context.correlationId ?? context.request?.id ?? id,
        $causationId: context.causationId ?? null,
      }),
    };
  };

  const record: CommandHandler['record'] = async (stream, event, { context, target, scope = null, success = true }) => {
    recent.forget(stream);
    const result = await store.append(stream, [envelop(event, context, target, scope, success)], 'any');
    return result.events[0]!;
  };

  const readHistory = async (stream: string, lastEventOnly: Execution<unknown, unknown, DomainEvent>['lastEventOnly']): Promise<RecordedEvent[]> => {
    if (!lastEventOnly) return store.readStream(stream);
    const last = await store.readLast(stream);
    if (!last) return [];
    return lastEventOnly === true || lastEventOnly(last) ? [last] : store.readStream(stream);
  };

  return {
    async execute({ stream, decider, command, context, target, scope = null, lastEventOnly = false, maxAttempts: attempts = maxAttempts, history: read }) {
      const lastOnly = lastEventOnly !== false;
      let guess = read ?? recent.get(stream, lastOnly);
      // a stream whose last event is not yet in the shape that holds the state is read whole
      if (guess?.length && typeof lastEventOnly === 'function' && !lastEventOnly(guess[guess.length - 1]!)) guess = undefined;
      for (let attempt = 1; ; ) {
        const history = guess ?? (await readHistory(stream, lastEventOnly));
        const guessed = guess !== undefined;
        guess = undefined;
        let state = fold(decider, history as unknown as Parameters<typeof decider.evolve>[1][]);
        const expected: ExpectedRevision = history.length ? history[history.length - 1]!.revision : 'no_stream';
        let events: NewEvent[];
        try {
          const decided = decider.decide(command, state);
          if (decided.length === 0) {
            if (guessed) continue;
            return { events: [], position: null, state };
          }
          for (const e of decided) state = decider.evolve(state, e);
          const ref = typeof target === 'function' ? target(state) : target;
          events = decided.map((e) => envelop(e, context, ref, scope, true));
        } catch (e) {
          // refused on what this handler remembered: decide again on the stream as it is
          if (guessed) continue;
          throw e;
        }
        try {
          const result = await store.append(stream, events, expected);
          recent.remember(stream, history, result.events, lastOnly);
          return { events: result.events, position: result.position, state };
        } catch (e) {
          recent.forget(stream);
          if (guessed && e instanceof WrongExpectedRevisionError) continue;
          if (!(e instanceof WrongExpectedRevisionError) || attempt >= attempts) throw e;
          // jittered, growing to at most 80 ms: writers that keep colliding spread apart
          await new Promise((r) => setTimeout(r, Math.random() * 10 * Math.min(attempt, 8)));
          attempt++;
        }
      }
    },
    record,
    envelop: (events, { context, target, scope = null }) => events.map((e) => envelop(e, context, target, scope, true)),
    refuse: (action, refusal, { context, target }) =>
      record(
        refusalStream(randomUUID()),
        { type: action, data: { ...refusal, reason: refusalReason(refusal.reason) } },
        { context, target: target ?? { id: refusal.operation, type: 'api_operation' }, success: false },
      ),
  };
};

import type { Knex } from 'knex';
import { createCommandHandler } from './commands.ts';
import { type EventStore, START } from '../adapters/eventstore/port.ts';
import { ValidationError } from '../domain/errors.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import type { Position, RecordedEvent } from '../domain/events/envelope.ts';
import { eventLogCopied, eventLogStream, eventLogTarget } from '../domain/system/event-log.ts';
import { reactorPositions } from './reactor-checkpoints.ts';
import { adoptLog, logIdentity } from './log-identity.ts';

export interface CopyResult {
  readonly events: number;
  /** The target's position of the copy's own event, the last of the log. */
  readonly position: Position;
}

/** Consecutive events of one stream: they go in one append. */
const runs = (events: ReadonlyArray<RecordedEvent>): RecordedEvent[][] => {
  const out: RecordedEvent[][] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last[0]!.stream === e.stream) last.push(e);
    else out.push([e]);
  }
  return out;
};

/**
 * Copies every event of `source` into the empty `target`, in log order, each at its stream revision with its id and
 * envelope (and the time `source` recorded it), then records the copy there: how many events, and where each reactor of
 * `db` had got to, as positions of the target, so that a server on the target neither skips nor repeats a reaction.
 */
export const copyEvents = async (options: {
  readonly source: EventStore;
  readonly target: EventStore;
  /** The SQL database whose read models and reactors follow `source`. */
  readonly db: Knex;
  readonly from: 'embedded' | 'postgresql';
  readonly pageSize?: number;
  readonly onProgress?: (copied: number) => void;
}): Promise<CopyResult> => {
  const { source, target, db } = options;
  const fromLog = await logIdentity(source);
  if (!fromLog) throw new ValidationError('this installation holds no events: there is nothing to copy');
  if ((await adoptLog(db, fromLog)) !== fromLog)
    throw new ValidationError("this database's read models follow another log than its own events: start Gyre on it once, then copy");
  // a copy that stopped part-way goes on: it copied a prefix of the log, each run of one stream whole or not at all
  let resuming = false;
  if ((await target.head()) !== START) {
    const targetLog = await logIdentity(target);
    resuming = targetLog?.split('@')[0] === fromLog.split('@')[0] && (await target.readLast(eventLogStream)) === undefined;
    if (!resuming) throw new ValidationError('the target already holds events of Gyre: copy into an empty EventStoreDB');
  }

  const reactors = Object.entries(await reactorPositions(db)).filter(([, p]) => p !== START);
  const placed: Record<string, Position> = {};
  let copied = 0;
  /** The run as the target holds it already, when an earlier copy took it. */
  const copiedBefore = async (run: RecordedEvent[]): Promise<ReadonlyArray<RecordedEvent> | null> => {
    const there = (await target.readStream(run[0]!.stream, run[0]!.revision)).slice(0, run.length);
    if (there.length === 0) return null;
    if (there.length !== run.length || there.some((e, i) => e.id !== run[i]!.id))
      throw new ValidationError(`the target's stream ${run[0]!.stream} differs from this installation's: copy into an empty EventStoreDB`);
    return there;
  };
  for (let from: Position = START; ; ) {
    const page = await source.readAll(from, { limit: options.pageSize ?? 1000 });
    for (const run of runs(page.events)) {
      const first = run[0]!;
      const before = resuming ? await copiedBefore(run) : null;
      if (!before) resuming = false;
      const appended =
        before ??
        (
          await target.append(
            first.stream,
            run.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: { ...e.metadata, occurredAt: e.occurredAt } })),
            first.revision === 0 ? 'no_stream' : first.revision - 1,
          )
        ).events;
      appended.forEach((e, i) => {
        for (const [name, at] of reactors) if (run[i]!.position <= at) placed[name] = e.position;
      });
      copied += run.length;
    }
    options.onProgress?.(copied);
    if (page.atEnd) break;
    from = page.next;
  }
  const recorded = await createCommandHandler(target, eventRegistry).record(
    eventLogStream,
    { type: eventLogCopied.type, data: { fromLog, from: options.from, events: copied, reactors: placed } },
    { context: { actor: { id: 'gyre', type: 'system', name: 'gyre events copy' }, request: null }, target: eventLogTarget },
  );
  return { events: copied, position: recorded.position };
};

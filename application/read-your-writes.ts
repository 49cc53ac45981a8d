import { GyreError } from '../domain/errors.ts';
import type { Position } from '../domain/events/envelope.ts';
import type { Logger, Written } from './dependencies.ts';

/** What a mutation answers with, read back after its write; missing only when the read models fell too far behind. */
export const written = <T>(row: T | undefined): T => {
  if (row === undefined)
    throw new GyreError('the change was recorded, but the read models have not caught up with it yet: read it again in a moment', 'READ_MODEL_BEHIND', 503);
  return row;
};

/** Followers of the log (the projection runner, the reactor runner), as waiting for them needs them. */
export interface Followers {
  /** The names of those that handle any of these event types. */
  handling(types: ReadonlyArray<string>): string[];
  /** True once those named in `only` (every one when left out) have passed `position`; false when the time is up. */
  waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean>;
}

export interface ReadYourWritesDeps {
  readonly head: () => Promise<Position>;
  readonly projections: Followers;
  readonly reactors: Followers;
  readonly log: Logger;
  readonly timeoutMs?: number;
}

/**
 * Waiting after a write, for exactly what the write touches. Events no reactor handles need only the
 * read models that handle them. When reactors do react, what they append is in the log once they have
 * passed the write, and every read model then catches up with the log's end.
 */
export const createReadYourWrites = ({ head, projections, reactors, log, timeoutMs = 5000 }: ReadYourWritesDeps) => {
  const settle = async (deadline: number, position: Position, reacting?: ReadonlyArray<string>) => {
    const left = () => Math.max(deadline - Date.now(), 0);
    return (await reactors.waitFor(position, left(), reacting)) && (await projections.waitFor(await head(), left()));
  };
  return {
    async readYourWrites({ position, events }: Written): Promise<void> {
      if (!position) return;
      const deadline = Date.now() + timeoutMs;
      // a refused attempt is recorded, but reactors act on nothing that did not happen
      const reacting = reactors.handling(events.filter((e) => e.metadata.success).map((e) => e.type));
      const caughtUp = reacting.length
        ? await settle(deadline, position, reacting)
        : await projections.waitFor(position, timeoutMs, projections.handling(events.map((e) => e.type)));
      if (!caughtUp) log.warn({ position }, `reactors and read models did not catch up within ${timeoutMs / 1000}s; answering with what they hold`);
    },
    /** Waits until every reactor has acted on the log as it stands now, and every read model holds all of it. */
    async settled(): Promise<boolean> {
      return settle(Date.now() + timeoutMs, await head());
    },
  };
};

import type { NewEvent } from '../../domain/events/envelope.ts';
import type { AppendResult, ExpectedRevision } from './port.ts';

export interface AppendRequest {
  readonly stream: string;
  readonly events: ReadonlyArray<NewEvent>;
  readonly expected: ExpectedRevision;
}

/** Writes appends together, each with its own revision check: an Error in a request's place fails that request alone. */
export type WriteAppends = (batch: ReadonlyArray<AppendRequest>) => Promise<Array<AppendResult | Error>>;

export interface GroupCommitLimits {
  readonly appends: number;
  readonly events: number;
}

interface Waiting extends AppendRequest {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/**
 * Group commit: an append that finds no write under way is written at once, alone; appends that arrive
 * while one is being written wait for it and then go together, in one write. A stream appears at most
 * once per write (two revision checks on one stream in one statement would see the same state), so a
 * stream's appends keep their order. When a write fails as a whole, each of its appends is written
 * again alone, so that one bad append cannot fail the others.
 */
export const createGroupCommit = (write: WriteAppends, limits: GroupCommitLimits = { appends: 256, events: 2000 }) => {
  let queue: Waiting[] = [];
  let writing = false;

  const take = (): Waiting[] => {
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    const streams = new Set<string>();
    let events = 0;
    for (const w of queue) {
      const fits = batch.length === 0 || (batch.length < limits.appends && events + w.events.length <= limits.events && !streams.has(w.stream));
      if (!fits) {
        rest.push(w);
        continue;
      }
      batch.push(w);
      streams.add(w.stream);
      events += w.events.length;
    }
    queue = rest;
    // one order of row locks for every writer, so that two processes' writes do not deadlock
    return batch.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  };

  const settle = (batch: ReadonlyArray<Waiting>, outcomes: ReadonlyArray<AppendResult | Error>) =>
    batch.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof Error) w.reject(outcome);
      else w.resolve(outcome);
    });

  const drain = async () => {
    writing = true;
    while (queue.length) {
      const batch = take();
      try {
        settle(batch, await write(batch));
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error);
        else for (const w of batch) await write([w]).then((o) => settle([w], o), w.reject);
      }
    }
    writing = false;
  };

  return (request: AppendRequest): Promise<AppendResult> =>
    new Promise((resolve, reject) => {
      queue.push({ ...request, resolve, reject });
      if (!writing) void drain();
    });
};

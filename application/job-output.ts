import type { EventStore } from '../adapters/eventstore/port.ts';
import type { OutputKey, OutputStore } from '../adapters/output/port.ts';
import { NotFoundError } from '../domain/errors.ts';
import { jobRunById, stepsOfJob } from '../projections/jobs.ts';
import { expiredAt } from '../projections/retention.ts';
import type { Reads } from './dependencies.ts';
import type { LiveOutput, OutputChunk } from './live-output.ts';

export interface JobOutputDeps extends Reads {
  readonly store: EventStore;
  readonly output: OutputStore;
  readonly live: LiveOutput;
}

/** What a `jobOutput` subscriber receives: output text, then the job's end. */
export type OutputMessage =
  | { readonly kind: 'output'; readonly jobId: string; readonly taskIndex: number; readonly stepIndex: number; readonly text: string; readonly status: null }
  | { readonly kind: 'end'; readonly jobId: string; readonly taskIndex: null; readonly stepIndex: null; readonly text: null; readonly status: string };

const key = (c: { taskIndex: number; stepIndex: number }) => `${c.taskIndex}.${c.stepIndex}`;

/**
 * Once retention has expired a job's output, reading it says so: its objects may be gone (an empty
 * answer would look like a step that printed nothing) or not yet deleted (it would look kept).
 */
const keptOutput = async (deps: Reads, jobId: string) => {
  const at = await expiredAt(deps.db, jobId, 'output');
  if (at) throw new NotFoundError(`this job's output expired on ${at}: output is kept for outputRetentionDays days (system settings)`, 'OUTPUT_EXPIRED');
};

/** One step's output as stored ('' when it wrote none). */
export const stepOutput = async (deps: Reads & { readonly output: OutputStore }, k: OutputKey): Promise<string> => {
  await keptOutput(deps, k.jobId);
  return (await deps.output.read(k)) ?? '';
};

/**
 * A job's output: what was written already, step by step, then each new chunk as it arrives, ending
 * with the job. Chunks that arrive while the stored output is read are held, and only the bytes past
 * what was read are sent, so nothing is missed or repeated.
 */
export const jobOutput = (deps: JobOutputDeps, jobId: string): AsyncIterableIterator<OutputMessage> => {
  const controller = new AbortController();
  const queue: OutputMessage[] = [];
  let wake: (() => void) | null = null;
  const push = (m: OutputMessage) => {
    queue.push(m);
    wake?.();
  };
  const read = new Map<string, number>();
  let held: OutputChunk[] | null = [];
  const deliver = (c: OutputChunk) => {
    const done = read.get(key(c)) ?? 0;
    const bytes = Buffer.from(c.text);
    if (c.offset + bytes.length <= done) return;
    const text = c.offset >= done ? c.text : bytes.subarray(done - c.offset).toString();
    read.set(key(c), c.offset + bytes.length);
    push({ kind: 'output', jobId, taskIndex: c.taskIndex, stepIndex: c.stepIndex, text, status: null });
  };
  const unsubscribe = deps.live.subscribe(jobId, (c) => (held ? held.push(c) : deliver(c)));

  const ended = (async () => {
    const from = await deps.store.head();
    const job = await jobRunById(deps.db, jobId);
    if (!job) throw new NotFoundError('no such job, or it has not been queued yet', 'JOB_NOT_FOUND');
    await keptOutput(deps, jobId);
    for (const s of await stepsOfJob(deps.db, jobId)) {
      const text = (await deps.output.read({ jobId, taskIndex: s.taskIndex, stepIndex: s.stepIndex })) ?? '';
      read.set(key(s), Buffer.byteLength(text));
      if (text) push({ kind: 'output', jobId, taskIndex: s.taskIndex, stepIndex: s.stepIndex, text, status: null });
    }
    for (const c of held!) deliver(c);
    held = null;
    const finished = await jobRunById(deps.db, jobId);
    if (finished?.stoppedAt) return push({ kind: 'end', jobId, taskIndex: null, stepIndex: null, text: null, status: finished.status });
    for await (const page of deps.store.subscribe(from, { filter: { types: [{ exact: 'job.finish' }] }, signal: controller.signal })) {
      const end = page.events.find((e) => (e.data as { jobId: string }).jobId === jobId);
      if (end) return push({ kind: 'end', jobId, taskIndex: null, stepIndex: null, text: null, status: (end.data as { status: string }).status });
    }
  })().catch((e: unknown) => {
    failure = e;
    wake?.();
  });
  let failure: unknown = null;
  let finished = false;

  const iterator: AsyncIterableIterator<OutputMessage> = {
    async next() {
      for (;;) {
        if (failure) throw failure;
        const m = queue.shift();
        if (m) {
          if (m.kind === 'end') finished = true;
          return { value: m, done: false };
        }
        if (finished) return iterator.return!();
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
    async return() {
      controller.abort();
      unsubscribe();
      await ended;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
};

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { megabytes } from '../domain/config/limits.ts';
import type { ConfigLimits, ProcessResult } from '../domain/config/process.ts';
import { GyreError, ValidationError } from '../domain/errors.ts';
import type { Processed, ProcessingTask } from './config-processing-worker.ts';
import type { Reads } from './dependencies.ts';
import { withOrbs } from './orbs.ts';

export interface ConfigProcessingLimits extends ConfigLimits {
  /** The longest a config's text may be, from the compile endpoint or a repository alike. */
  readonly sourceBytes: number;
  /** How long one processing may take (each pass over orbs loaded). */
  readonly timeoutMs: number;
  /** The heap of a processing's worker thread. */
  readonly memoryMb: number;
  /** Configs that may wait for a thread at once. */
  readonly queued: number;
  /** Worker threads: by default half the cores, at least 2. */
  readonly threads?: number;
}

/** Processes configs in worker threads, each bounded in time and memory, so that no config holds up the event loop. */
export interface ConfigProcessor {
  /** The longest config processed (bytes): a longer one is refused unread where it can be. */
  readonly sourceBytes: number;
  /** Refuses a config of `bytes`, larger than `sourceBytes`. */
  refuseSize(bytes: number): never;
  /** Configs being processed now, and waiting for a thread. */
  load(): { readonly running: number; readonly waiting: number };
  /** Refuses a config longer than the limit; every other bound exceeded comes back as a problem, as the config's own problems do. */
  process(s: Reads, text: string, options: { pipelineParameters: Record<string, unknown>; pipelineValues: Record<string, unknown> }): Promise<ProcessResult>;
  close(): Promise<void>;
}

// under tsx the worker is the .ts file beside this one; compiled into dist/, the .js
const workerFile = new URL(`./config-processing-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

const failed = (message: string): ProcessResult => ({ valid: false, problems: [{ file: '.circleci/config.yml', line: null, key: '', message }] });

export const configProcessor = (limits: ConfigProcessingLimits): ConfigProcessor => {
  const threads = limits.threads ?? Math.max(2, Math.floor(availableParallelism() / 2));
  const pool = new Piscina<ProcessingTask, Processed>({
    filename: workerFile,
    minThreads: 0,
    maxThreads: threads,
    idleTimeout: 60_000,
    resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb, maxYoungGenerationSizeMb: Math.min(64, Math.ceil(limits.memoryMb / 4)) },
  });
  const { sourceBytes, timeoutMs, memoryMb, queued, threads: _threads, ...configLimits } = limits;
  const refuseSize = (bytes: number): never => {
    throw new ValidationError(`the config is ${megabytes(bytes)}, more than ${megabytes(sourceBytes)} (the limit of a config's size): make it smaller`);
  };
  let running = 0;
  const waiting: Array<() => void> = [];
  /** A thread's turn: the time limit counts from here, not from when the config started waiting for one. */
  const turn = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running < threads) running++;
    // past every thread and the places to wait for one, a config is refused at once rather than kept waiting without end
    else if (waiting.length >= queued)
      throw new GyreError(`Gyre is processing as many configs as it takes (${queued} waiting): try again in a moment`, 'CONFIG_PROCESSING_BUSY', 503);
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
  const processed: ConfigProcessor['process'] = (s, text, options) =>
    withOrbs(s, (loaded) =>
      turn(async () => {
        try {
          return await pool.run({ text, ...options, limits: configLimits, loaded }, { signal: AbortSignal.timeout(timeoutMs) });
        } catch (e) {
          // the worker was stopped (and a new one takes the next task): this config alone failed
          if (e instanceof Error && e.name === 'AbortError')
            return { result: failed(`processing the config took more than ${timeoutMs / 1000} s (the limit of config processing time)`), wanted: [] };
          if ((e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY')
            return { result: failed(`processing the config needed more than ${memoryMb} MB (the limit of config processing memory)`), wanted: [] };
          throw e;
        }
      }),
    );
  return {
    sourceBytes,
    refuseSize,
    load: () => ({ running, waiting: waiting.length }),
    async process(s, text, options) {
      const bytes = Buffer.byteLength(text);
      if (bytes > sourceBytes) refuseSize(bytes);
      return processed(s, text, options);
    },
    close: () => pool.destroy(),
  };
};

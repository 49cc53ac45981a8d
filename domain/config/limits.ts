import { isRecord } from './values.ts';

/**
 * How far one config may grow as it is processed: a few lines of matrix or of commands calling
 * commands can multiply into millions of jobs and steps. Each limit exceeded is one problem naming it.
 */
export interface ConfigLimits {
  /** Jobs one `matrix` unrolls to, before its `exclude`. */
  readonly matrixCombinations: number;
  /** Jobs in one workflow, matrices unrolled. */
  readonly jobsPerWorkflow: number;
  /** Steps over all jobs, commands inlined. */
  readonly steps: number;
  /** The processed config's size, as its YAML would hold it (CircleCI's compiled config is at most 8 MB). */
  readonly processedBytes: number;
}

export const defaultConfigLimits: ConfigLimits = {
  matrixCombinations: 1_000,
  jobsPerWorkflow: 1_000,
  steps: 100_000,
  processedBytes: 8 * 1024 * 1024,
};

/** A size for a message: `8 MB`, `2.5 MB`, `20 KB`, `100 bytes`. */
export const megabytes = (bytes: number): string =>
  bytes >= 1024 * 1024 ? `${Number((bytes / 1024 / 1024).toFixed(1))} MB` : bytes >= 1024 ? `${Number((bytes / 1024).toFixed(1))} KB` : `${bytes} bytes`;

/**
 * Whether `value`'s strings, keys and scalars come to more than `limit` characters. It stops as soon
 * as they do, so a huge value costs no more than the limit to measure; a string held in many places
 * counts each time, as YAML writes it each time.
 */
export const largerThan = (value: unknown, limit: number): boolean => {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') size += v.length;
    else if (Array.isArray(v)) {
      size += 2;
      for (const x of v) stack.push(x);
    } else if (isRecord(v))
      for (const [k, x] of Object.entries(v)) {
        size += k.length + 2;
        stack.push(x);
      }
    else size += String(v).length;
    if (size > limit) return true;
  }
  return false;
};

import * as assert from 'uvu/assert';
import { GyreError } from '../../domain/errors.ts';

/** uvu has no async throws: fails unless `fn` rejects, and (when given) with an error `match` accepts. */
export const rejects = async (fn: () => Promise<unknown>, match?: (e: unknown) => boolean, message?: string): Promise<unknown> => {
  try {
    await fn();
  } catch (e) {
    if (match) assert.ok(match(e), message ?? `rejected with an unexpected error: ${String(e)}`);
    return e;
  }
  assert.unreachable(message ?? 'expected a rejection');
};

/** Fails unless `work` rejects with a Gyre error of this code. */
export const refusedWith = async (code: string, work: Promise<unknown>) => {
  try {
    await work;
    assert.unreachable(`not refused (${code})`);
  } catch (e) {
    assert.ok(e instanceof GyreError && e.code === code, `${String(e)} is not ${code}`);
  }
};

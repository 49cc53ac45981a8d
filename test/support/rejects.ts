import * as assert from 'uvu/assert';

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

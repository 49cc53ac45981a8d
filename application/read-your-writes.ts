import { GyreError } from '../domain/errors.ts';

/** What a mutation answers with, read back after its write; missing only when the read models fell too far behind. */
export const written = <T>(row: T | undefined): T => {
  if (row === undefined) throw new GyreError('the change was recorded, but the read models have not caught up with it yet: read it again in a moment', 'READ_MODEL_BEHIND', 503);
  return row;
};

import { createHash } from 'node:crypto';
import { ValidationError } from './errors.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An id given as input: a UUID, lower-cased; anything else is a ValidationError naming `what`. */
export const parseUuid = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || !uuid.test(v)) throw new ValidationError(`${what} is a UUID`);
  return v.toLowerCase();
};

/** A UUID (version 5 layout) derived from text: the same text always gives the same id, so deciding stays pure. */
export const uuidFrom = (text: string): string => {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

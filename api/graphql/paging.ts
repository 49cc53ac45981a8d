import { ValidationError } from '../../domain/errors.ts';

export const maxPageSize = 500;

export const parsePageSize = (first: unknown): number => {
  const n = first ?? 50;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > maxPageSize)
    throw new ValidationError(`first must be a whole number from 1 to ${maxPageSize}`);
  return n;
};

export const encodeCursor = (position: string) => Buffer.from(position, 'utf8').toString('base64url');
export const decodeCursor = (cursor: string | null | undefined): string | undefined => {
  if (!cursor) return undefined;
  const position = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[\x20-\x7e\n]{1,300}$/.test(position)) throw new ValidationError('after is not a cursor this API gave out');
  return position;
};

/** A Relay connection over one page of a read model. */
export const connection = <T>(nodes: ReadonlyArray<T>, hasNextPage: boolean, cursorOf: (node: T) => string) => {
  const edges = nodes.map((node) => ({ cursor: encodeCursor(cursorOf(node)), node }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges[edges.length - 1]?.cursor ?? null } };
};

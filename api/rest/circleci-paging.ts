import { ValidationError } from '../../domain/errors.ts';

/** CircleCI API v2 paging: `next_page_token` in the body (null on the last page), `?page-token=` back. */
export const pageSize = 20;

export const nextPageToken = (hasNextPage: boolean, cursor: string | undefined): string | null =>
  hasNextPage && cursor !== undefined ? Buffer.from(cursor, 'utf8').toString('base64url') : null;

export const pageTokenCursor = (token: unknown): string | undefined => {
  if (token === undefined || token === '') return undefined;
  const cursor = typeof token === 'string' ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!/^[\x20-\x7e\n]{1,300}$/.test(cursor)) throw new ValidationError('page-token is not a token this API gave out');
  return cursor;
};

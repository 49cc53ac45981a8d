import type { AuditRecord } from '../../domain/audit/audit-record.ts';
import { ValidationError } from '../../domain/errors.ts';

export const maxPageSize = 500;

export const parsePageSize = (first: unknown): number => {
  const n = first ?? 50;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > maxPageSize) throw new ValidationError(`first must be a whole number from 1 to ${maxPageSize}`);
  return n;
};

export const encodeCursor = (position: string) => Buffer.from(position, 'utf8').toString('base64url');
export const decodeCursor = (cursor: string | null | undefined): string | undefined => {
  if (!cursor) return undefined;
  const position = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[\x20-\x7e]{1,100}$/.test(position)) throw new ValidationError('after is not a cursor this API gave out');
  return position;
};

/** An audit record in GraphQL's case. */
export const toAuditEvent = (r: AuditRecord) => ({
  id: r.id,
  action: r.action,
  actor: r.actor,
  target: r.target,
  scope: r.scope,
  payload: r.payload,
  occurredAt: r.occurred_at,
  metadata: r.metadata,
  version: r.version,
  success: r.success,
  request: r.request,
});

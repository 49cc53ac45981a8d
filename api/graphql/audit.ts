import { z } from 'zod';
import { parseActionFilters } from '../../domain/audit/action-filter.ts';
import type { AuditRecord } from '../../domain/audit/audit-record.ts';
import { ValidationError, describeIssues } from '../../domain/errors.ts';
import type { AuditQuery } from '../../projections/audit-log.ts';

export const maxPageSize = 500;

const isoTime = z
  .string()
  .trim()
  .refine((v) => /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(v) && !Number.isNaN(Date.parse(v)), 'must be an ISO-8601 time such as 2026-01-31T12:00:00Z')
  .transform((v) => new Date(v));

const AuditFilterInput = z
  .object({
    since: isoTime.nullish(),
    until: isoTime.nullish(),
    actions: z.array(z.string()).max(50).nullish(),
    actorId: z.string().max(200).nullish(),
    targetId: z.string().max(200).nullish(),
  })
  .strict();

/** Parses the audit filters shared by GraphQL and the CSV export; a bad value is a ValidationError naming it. */
export const parseAuditQuery = (input: unknown): AuditQuery => {
  const r = AuditFilterInput.safeParse(input ?? {});
  if (!r.success) throw new ValidationError(`invalid audit log filter: ${describeIssues(r.error.issues)}`);
  const { since, until, actions, actorId, targetId } = r.data;
  if (since && until && since > until) throw new ValidationError('invalid audit log filter: since must not be after until');
  return { since: since ?? undefined, until: until ?? undefined, actions: parseActionFilters(actions), actorId: actorId ?? undefined, targetId: targetId ?? undefined };
};

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

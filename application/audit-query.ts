import { z } from 'zod';
import { parseActionFilters } from '../domain/audit/action-filter.ts';
import { isCalendarDate } from '../domain/calendar.ts';
import { ValidationError, describeIssues } from '../domain/errors.ts';
import type { AuditQuery } from '../projections/audit-log.ts';

/** A date (taken as UTC midnight) or a time with a zone; a time without a zone is ambiguous and refused. */
const isoTime = z
  .string()
  .trim()
  .refine(
    (v) =>
      (/^\d{4}-\d\d-\d\d$/.test(v) || /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)$/.test(v)) &&
      !Number.isNaN(Date.parse(v)) &&
      isCalendarDate(v),
    'must be an ISO-8601 date or a time with a zone, such as 2026-01-31T12:00:00Z',
  )
  .transform((v) => (v.length === 10 ? `${v}T00:00:00Z` : v));

const AuditFilterInput = z
  .object({
    since: isoTime.nullish(),
    until: isoTime.nullish(),
    actions: z.array(z.string()).max(50).nullish(),
    actorId: z.string().max(200).nullish(),
    targetId: z.string().max(200).nullish(),
  })
  .strict();

/** The audit filters GraphQL and the CSV export share; a bad value is a ValidationError naming it. */
export const parseAuditQuery = (input: unknown): AuditQuery => {
  const r = AuditFilterInput.safeParse(input ?? {});
  if (!r.success) throw new ValidationError(`invalid audit log filter: ${describeIssues(r.error.issues)}`);
  const { since, until, actions, actorId, targetId } = r.data;
  if (since && until && Date.parse(since) > Date.parse(until)) throw new ValidationError('invalid audit log filter: since must not be after until');
  return {
    since: since ?? undefined,
    until: until ?? undefined,
    actions: parseActionFilters(actions),
    actorId: actorId ?? undefined,
    targetId: targetId ?? undefined,
  };
};

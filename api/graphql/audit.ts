import type { AuditRecord } from '../../domain/audit/audit-record.ts';

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

import type { RecordedEvent, Reference, RequestInfo } from '../events/envelope.ts';
import type { EventRegistry } from '../events/registry.ts';

/** One row of the audit log: an event as the operations guide's audit log shows it. */
export interface AuditRecord {
  readonly id: string;
  readonly action: string;
  readonly actor: Reference;
  readonly target: Reference;
  readonly scope: Reference | null;
  readonly payload: Record<string, unknown>;
  readonly occurred_at: string;
  readonly metadata: Record<string, string>;
  readonly version: number;
  readonly success: boolean;
  readonly request: RequestInfo;
}

/** The CSV columns, in the guide's order. */
export const auditColumns = ['action', 'actor', 'target', 'payload', 'occurred_at', 'metadata', 'id', 'version', 'scope', 'success', 'request'] as const;

/** `{id, type, name}` in that order, whatever order storage gave the keys. */
const reference = (r: Reference): Reference => (r.name === undefined ? { id: r.id, type: r.type } : { id: r.id, type: r.type, name: r.name });

/** Only the fields the event type declares public reach the payload: secrets stay in the store. */
export const toAuditRecord = (event: RecordedEvent, registry: EventRegistry): AuditRecord => {
  const m = event.metadata;
  return {
    id: event.id,
    action: event.type,
    actor: reference(m.actor),
    target: reference(m.target),
    scope: m.scope && reference(m.scope),
    payload: registry.publicPayload(event.type, event.data, m.success),
    occurred_at: event.occurredAt,
    metadata: m.metadata,
    version: m.version,
    success: m.success,
    request: m.request && { id: m.request.id, ip_address: m.request.ip_address, client_trace_id: m.request.client_trace_id },
  };
};

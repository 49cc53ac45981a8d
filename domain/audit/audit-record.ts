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

/** Only the fields the event type declares public reach the payload: secrets stay in the store. */
export const toAuditRecord = (event: RecordedEvent, registry: EventRegistry): AuditRecord => {
  const m = event.metadata;
  return {
    id: event.id,
    action: event.type,
    actor: m.actor,
    target: m.target,
    scope: m.scope,
    payload: registry.publicPayload(event.type, event.data, m.success),
    occurred_at: event.occurredAt,
    metadata: m.metadata,
    version: m.version,
    success: m.success,
    request: m.request,
  };
};

/** Nested values as compact JSON, scalars as text: one CSV row in column order. */
export const toCsvRow = (r: AuditRecord): string[] =>
  auditColumns.map((c) => {
    const v = r[c];
    if (v === null) return 'null';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });

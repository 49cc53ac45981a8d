import { z } from 'zod';

/** `{id, type, name?}`: who acted, what was acted on, and in which scope. */
export const Reference = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  name: z.string().optional(),
});
export type Reference = z.infer<typeof Reference>;

/** The HTTP request an event came from; null for events made by workers. */
export const RequestInfo = z
  .object({
    id: z.string().min(1),
    ip_address: z.string().nullable(),
    client_trace_id: z.string().nullable(),
  })
  .nullable();
export type RequestInfo = z.infer<typeof RequestInfo>;

/** The audit envelope every event carries in its metadata (CircleCI's audit log fields). */
export const EventMetadata = z.object({
  actor: Reference,
  target: Reference,
  scope: Reference.nullable(),
  request: RequestInfo,
  success: z.boolean(),
  metadata: z.record(z.string(), z.string()),
  version: z.number().int().positive(),
  $correlationId: z.string().min(1),
  $causationId: z.string().nullable(),
  /** Only on an event `gyre events copy` moved from another log: when that log recorded it (ISO-8601 UTC). */
  occurredAt: z.string().datetime().optional(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;

/** What deciders return: an event without its envelope. */
export interface DomainEvent<T extends string = string, D = unknown> {
  readonly type: T;
  readonly data: D;
}

/** An event ready to append: its id is the audit id. */
export interface NewEvent<T extends string = string, D = unknown> extends DomainEvent<T, D> {
  readonly id: string;
  readonly metadata: EventMetadata;
}

/**
 * Opaque, and sorts in log order as a plain string. Adapters encode their own
 * coordinates into it (PostgreSQL: transaction id and sequence; EventStoreDB: commit and prepare).
 */
export type Position = string;

export interface RecordedEvent<T extends string = string, D = unknown> extends NewEvent<T, D> {
  readonly stream: string;
  /** 0-based revision of the event within its stream. */
  readonly revision: number;
  readonly position: Position;
  /** ISO-8601 UTC commit time. */
  readonly occurredAt: string;
}

/** Who asked, and through which request: the part of the envelope that comes from the caller. */
export interface CommandContext {
  readonly actor: Reference;
  readonly request: RequestInfo;
  readonly correlationId?: string;
  readonly causationId?: string | null;
}

export const systemActor: Reference = { id: 'gyre', type: 'system', name: 'gyre' };

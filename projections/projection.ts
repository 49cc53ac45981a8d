import type { Knex } from 'knex';
import type { ActionFilter } from '../domain/audit/action-filter.ts';
import type { RecordedEvent } from '../domain/events/envelope.ts';

/** A timestamp column as ISO-8601 UTC. */
export const isoTime = (v: unknown): string => new Date(v as string).toISOString();

/** The versioned names of a projection's tables: a new version builds new tables beside the old. */
export type Tables<T extends string> = Readonly<Record<T, string>>;

/**
 * A read model: its tables, the events it handles (none listed: all), and how it applies a batch.
 * `apply` runs in the transaction that also moves the checkpoint, so each event takes effect once.
 */
export interface Projection<T extends string = string> {
  readonly name: string;
  readonly version: number;
  readonly handles: ReadonlyArray<ActionFilter>;
  readonly tables: Tables<T>;
  migrate(db: Knex, tables: Tables<T>): Promise<void>;
  apply(events: ReadonlyArray<RecordedEvent>, trx: Knex.Transaction, tables: Tables<T>): Promise<void>;
}

export const defineProjection = <const T extends string>(spec: {
  name: string;
  version: number;
  handles?: ReadonlyArray<ActionFilter>;
  tables: ReadonlyArray<T>;
  migrate(db: Knex, tables: Tables<T>): Promise<void>;
  apply(events: ReadonlyArray<RecordedEvent>, trx: Knex.Transaction, tables: Tables<T>): Promise<void>;
}): Projection<T> => ({
  ...spec,
  handles: spec.handles ?? [],
  tables: Object.fromEntries(spec.tables.map((t) => [t, `${t}_v${spec.version}`])) as Tables<T>,
});

/** The same projection at another version, with its own tables and checkpoint: how a rebuild starts. */
export const atVersion = <T extends string>(p: Projection<T>, version: number): Projection<T> => ({
  ...p,
  version,
  tables: Object.fromEntries(Object.entries(p.tables).map(([k, v]) => [k, (v as string).replace(/_v\d+$/, `_v${version}`)])) as Tables<T>,
});

import type { Knex } from 'knex';
import type { ContextEvent } from '../domain/contexts/context.ts';
import { envVarTable } from './env-vars.ts';
import { defineProjection, isoTime } from './projection.ts';

export interface ContextRow {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly ownerSlug: string;
  readonly createdAt: string;
}

export interface RestrictionRow {
  readonly id: string;
  readonly type: 'group';
  readonly value: string;
}

/** Live contexts only: a deleted context leaves the read models (its history stays in the log). */
export const contextsProjection = defineProjection({
  name: 'contexts',
  version: 1,
  handles: [{ prefix: 'context.' }],
  tables: ['contexts', 'context_env_vars', 'context_restrictions', 'deleted_contexts'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.contexts} (
      id text primary key, name text not null, owner_id text not null, owner_slug text not null, owner_key text not null, created_at timestamptz not null)`);
    await db.raw(`create index if not exists ${t.contexts}_owner on ${t.contexts} (owner_key, name, id)`);
    await envVarTable(t.context_env_vars, 'context_id').create(db);
    await db.raw(
      `create table if not exists ${t.context_restrictions} (id text primary key, context_id text not null, type text not null, value text not null)`,
    );
    await db.raw(`create table if not exists ${t.deleted_contexts} (id text primary key, deleted_at timestamptz not null)`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as ContextEvent;
      const at = recorded.occurredAt;
      switch (e.type) {
        case 'context.create':
          await trx(t.contexts).insert({
            id: e.data.contextId,
            name: e.data.context,
            owner_id: e.data.owner.id,
            owner_slug: e.data.owner.slug,
            owner_key: e.data.owner.slug.toLowerCase(),
            created_at: at,
          });
          break;
        case 'context.delete':
          for (const table of [t.context_env_vars, t.context_restrictions]) await trx(table).where({ context_id: e.data.contextId }).delete();
          await trx(t.contexts).where({ id: e.data.contextId }).delete();
          await trx(t.deleted_contexts).insert({ id: e.data.contextId, deleted_at: at });
          break;
        case 'context.env_var.store':
          await envVarTable(t.context_env_vars, 'context_id').store(trx, e.data.contextId, e.data.variable, e.data.secret.masked, at);
          break;
        case 'context.env_var.delete':
          await envVarTable(t.context_env_vars, 'context_id').remove(trx, e.data.contextId, e.data.variable);
          break;
        case 'context.restriction.create':
          await trx(t.context_restrictions).insert({ id: e.data.restrictionId, context_id: e.data.contextId, type: e.data.type, value: e.data.value });
          break;
        case 'context.restriction.delete':
          await trx(t.context_restrictions).where({ id: e.data.restrictionId }).delete();
          break;
      }
    }
  },
});

const { contexts, context_env_vars, context_restrictions } = contextsProjection.tables;
const toContext = (r: Record<string, unknown>): ContextRow => ({
  id: r.id as string,
  name: r.name as string,
  ownerId: r.owner_id as string,
  ownerSlug: r.owner_slug as string,
  createdAt: isoTime(r.created_at),
});

export const contextById = async (db: Knex, id: string): Promise<ContextRow | undefined> => {
  const row = await db(contexts).where({ id }).first();
  return row ? toContext(row) : undefined;
};

/** An owner's contexts by name (the owner by lower-cased slug); the cursor is the last `name\nid`. */
export const contextsPage = async (db: Knex, ownerKey: string, first: number, after?: string): Promise<{ contexts: ContextRow[]; hasNextPage: boolean }> => {
  const q = db(contexts)
    .where({ owner_key: ownerKey })
    .orderBy([{ column: 'name' }, { column: 'id' }])
    .limit(first + 1);
  if (after) {
    const [name, id] = after.split('\n');
    q.whereRaw('(name, id) > (?, ?)', [name ?? '', id ?? '']);
  }
  const rows = (await q) as Array<Record<string, unknown>>;
  return { contexts: rows.slice(0, first).map(toContext), hasNextPage: rows.length > first };
};
export const contextCursor = (c: ContextRow) => `${c.name}\n${c.id}`;

const envVars = envVarTable(context_env_vars, 'context_id');
export const contextEnvVar = envVars.one;
export const contextEnvVars = envVars.page;

export const contextRestrictions = async (db: Knex, contextId: string): Promise<RestrictionRow[]> =>
  (await db(context_restrictions).where({ context_id: contextId }).orderBy('value').select('id', 'type', 'value')) as RestrictionRow[];

/** Every context ever deleted: their data keys must be gone too. */
export const deletedContextIds = async (db: Knex): Promise<string[]> => (await db(contextsProjection.tables.deleted_contexts).pluck('id')) as string[];

/** The slug (`gh/org`) of the organization with this id, if it owns a context. */
export const contextOwnerSlugById = async (db: Knex, ownerId: string): Promise<string | undefined> =>
  (await db(contexts).where({ owner_id: ownerId }).first('owner_slug'))?.owner_slug;

/** The live context of this name in an organization (by lower-cased slug), if any. */
export const contextByName = async (db: Knex, ownerKey: string, name: string): Promise<ContextRow | undefined> => {
  const row = await db(contexts).where({ owner_key: ownerKey }).whereRaw('lower(name) = lower(?)', [name]).first();
  return row ? toContext(row) : undefined;
};

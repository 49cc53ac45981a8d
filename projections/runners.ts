import type { Knex } from 'knex';
import type { RunnerEvent } from '../domain/runners/resource-class.ts';
import { defineProjection, isoTime } from './projection.ts';

export interface ResourceClassRow {
  readonly id: string;
  readonly resourceClass: string;
  readonly namespace: string;
  readonly description: string;
  readonly createdAt: string;
}

/** A token as lists show it: never the token, never its hash. */
export interface RunnerTokenRow {
  readonly id: string;
  readonly resourceClassId: string;
  readonly resourceClass: string;
  readonly nickname: string;
  readonly createdAt: string;
}

/** Live resource classes and their tokens; a token's hash is kept only to authenticate agents. */
export const runnersProjection = defineProjection({
  name: 'runners',
  version: 1,
  handles: [{ prefix: 'runner.' }],
  tables: ['runner_resource_classes', 'runner_tokens'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.runner_resource_classes} (
      id text primary key, resource_class text not null, name_key text not null unique, namespace_key text not null, description text not null, created_at timestamptz not null)`);
    await db.raw(`create table if not exists ${t.runner_tokens} (
      id text primary key, resource_class_id text not null, token_hash text not null unique, nickname text not null, created_at timestamptz not null)`);
    await db.raw(`create index if not exists ${t.runner_tokens}_class on ${t.runner_tokens} (resource_class_id, created_at)`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as RunnerEvent;
      const at = recorded.occurredAt;
      switch (e.type) {
        case 'runner.resource_class.create':
          await trx(t.runner_resource_classes).insert({
            id: e.data.resourceClassId,
            resource_class: e.data.resourceClass,
            name_key: e.data.resourceClass.toLowerCase(),
            namespace_key: e.data.namespace.toLowerCase(),
            description: e.data.description,
            created_at: at,
          });
          break;
        case 'runner.resource_class.delete':
          await trx(t.runner_tokens).where({ resource_class_id: e.data.resourceClassId }).delete();
          await trx(t.runner_resource_classes).where({ id: e.data.resourceClassId }).delete();
          break;
        case 'runner.token.create':
          await trx(t.runner_tokens).insert({
            id: e.data.tokenId,
            resource_class_id: e.data.resourceClassId,
            token_hash: e.data.tokenHash,
            nickname: e.data.nickname,
            created_at: at,
          });
          break;
        case 'runner.token.delete':
          await trx(t.runner_tokens).where({ id: e.data.tokenId }).delete();
          break;
      }
    }
  },
});

const { runner_resource_classes: classes, runner_tokens: tokens } = runnersProjection.tables;
const toClass = (r: Record<string, unknown>): ResourceClassRow => ({
  id: r.id as string,
  resourceClass: r.resource_class as string,
  namespace: (r.resource_class as string).split('/')[0]!,
  description: r.description as string,
  createdAt: isoTime(r.created_at),
});
const toToken = (r: Record<string, unknown>): RunnerTokenRow => ({
  id: r.id as string,
  resourceClassId: r.resource_class_id as string,
  resourceClass: r.resource_class as string,
  nickname: r.nickname as string,
  createdAt: isoTime(r.created_at),
});
const tokenColumns = (db: Knex) =>
  db(tokens)
    .join(classes, `${classes}.id`, `${tokens}.resource_class_id`)
    .select(`${tokens}.id`, `${tokens}.resource_class_id`, `${classes}.resource_class`, `${tokens}.nickname`, `${tokens}.created_at`);

/** A namespace's classes by name (the namespace matched without regard to case). */
export const resourceClassesInNamespace = async (db: Knex, namespace: string): Promise<ResourceClassRow[]> =>
  ((await db(classes).where({ namespace_key: namespace.toLowerCase() }).orderBy('name_key')) as Array<Record<string, unknown>>).map(toClass);

export const resourceClassById = async (db: Knex, id: string): Promise<ResourceClassRow | undefined> => {
  const row = await db(classes).where({ id }).first();
  return row ? toClass(row) : undefined;
};

export const resourceClassByName = async (db: Knex, name: string): Promise<ResourceClassRow | undefined> => {
  const row = await db(classes).where({ name_key: name.toLowerCase() }).first();
  return row ? toClass(row) : undefined;
};

/** A class's tokens, oldest first, without secrets. */
export const runnerTokensOf = async (db: Knex, resourceClassId: string): Promise<RunnerTokenRow[]> =>
  (
    (await tokenColumns(db)
      .where(`${tokens}.resource_class_id`, resourceClassId)
      .orderBy([{ column: `${tokens}.created_at` }, { column: `${tokens}.id` }])) as Array<Record<string, unknown>>
  ).map(toToken);

export const runnerTokenById = async (db: Knex, id: string): Promise<RunnerTokenRow | undefined> => {
  const row = await tokenColumns(db).where(`${tokens}.id`, id).first();
  return row ? toToken(row) : undefined;
};

/** The live token with this SHA-256 and its class: how an agent is authenticated. */
export const runnerTokenByHash = async (db: Knex, tokenHash: string): Promise<RunnerTokenRow | undefined> => {
  const row = await tokenColumns(db).where(`${tokens}.token_hash`, tokenHash).first();
  return row ? toToken(row) : undefined;
};

import type { Knex } from 'knex';
import type { OrbEvent } from '../domain/orbs/orb.ts';
import { defineProjection } from './projection.ts';

/** The private orb registry: every published version and its source. */
export const orbsProjection = defineProjection({
  name: 'orbs',
  version: 1,
  handles: [{ prefix: 'orb.' }],
  tables: ['orb_versions'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.orb_versions} (
      namespace text not null, name text not null, version text not null, source text not null, published_at timestamptz not null,
      primary key (namespace, name, version))`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as OrbEvent;
      if (e.type === 'orb.publish')
        await trx(t.orb_versions).insert({
          namespace: e.data.namespace,
          name: e.data.orb,
          version: e.data.version,
          source: e.data.source,
          published_at: recorded.occurredAt,
        });
    }
  },
});

const { orb_versions } = orbsProjection.tables;

/** Every published version of `namespace/name`, with its source. */
export const orbVersions = async (db: Knex, namespace: string, name: string): Promise<Map<string, string>> => {
  const rows = (await db(orb_versions).where({ namespace, name }).select('version', 'source')) as Array<{ version: string; source: string }>;
  return new Map(rows.map((r) => [r.version, r.source]));
};

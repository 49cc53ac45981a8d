import type { Knex } from 'knex';
import { settingsDecider, defaultSettings, type SettingsEvent, type SystemSettings } from '../domain/system/settings.ts';
import { defineProjection } from './projection.ts';

/** v2: the retention periods. */
export const systemSettingsProjection = defineProjection({
  name: 'system_settings',
  version: 2,
  handles: [{ exact: 'system.settings.update' }],
  tables: ['system_settings'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.system_settings} (
      id int primary key check (id = 1),
      suspend_new_users boolean not null,
      required_org_membership jsonb not null,
      license_seats int,
      output_retention_days int not null,
      artifact_retention_days int not null,
      test_result_retention_days int not null,
      cache_retention_days int not null,
      workspace_retention_days int not null)`);
  },
  async apply(events, trx, t) {
    let settings = await readSettings(trx, t.system_settings);
    for (const e of events) if (e.metadata.success) settings = settingsDecider.evolve(settings, e as unknown as SettingsEvent);
    await trx(t.system_settings)
      .insert({
        id: 1,
        suspend_new_users: settings.suspendNewUsers,
        required_org_membership: JSON.stringify(settings.requiredOrgMembership),
        license_seats: settings.licenseSeats,
        output_retention_days: settings.outputRetentionDays,
        artifact_retention_days: settings.artifactRetentionDays,
        test_result_retention_days: settings.testResultRetentionDays,
        cache_retention_days: settings.cacheRetentionDays,
        workspace_retention_days: settings.workspaceRetentionDays,
      })
      .onConflict('id')
      .merge();
  },
});

const readSettings = async (db: Knex, table: string): Promise<SystemSettings> => {
  const row = await db(table).where({ id: 1 }).first();
  if (!row) return defaultSettings;
  const orgs = typeof row.required_org_membership === 'string' ? JSON.parse(row.required_org_membership) : row.required_org_membership;
  return {
    suspendNewUsers: row.suspend_new_users,
    requiredOrgMembership: orgs,
    licenseSeats: row.license_seats,
    outputRetentionDays: row.output_retention_days,
    artifactRetentionDays: row.artifact_retention_days,
    testResultRetentionDays: row.test_result_retention_days,
    cacheRetentionDays: row.cache_retention_days,
    workspaceRetentionDays: row.workspace_retention_days,
  };
};

export const systemSettings = (db: Knex): Promise<SystemSettings> => readSettings(db, systemSettingsProjection.tables.system_settings);

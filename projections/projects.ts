import type { Knex } from 'knex';
import type { ProjectEvent, ProjectSettings } from '../domain/projects/project.ts';
import { envVarTable } from './env-vars.ts';
import { defineProjection, isoTime } from './projection.ts';

export interface ProjectRow {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly organization: string;
  readonly organizationId: string;
  readonly settings: ProjectSettings;
  /** The webhook secret as every API shows it: masked, or null when none is set. */
  readonly webhookSecret: string | null;
  readonly createdAt: string;
}

export const projectsProjection = defineProjection({
  name: 'projects',
  version: 1,
  handles: [{ prefix: 'project.' }],
  tables: ['projects', 'project_env_vars'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.projects} (
      id text primary key, slug text not null, slug_key text not null unique, name text not null, organization text not null,
      organization_id text not null, settings jsonb not null, webhook_secret text, created_at timestamptz not null)`);
    await envVarTable(t.project_env_vars, 'project_id').create(db);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as ProjectEvent;
      const at = recorded.occurredAt;
      switch (e.type) {
        case 'project.create': {
          const d = e.data;
          await trx(t.projects).insert({
            id: d.projectId,
            slug: d.slug,
            slug_key: d.slug.toLowerCase(),
            name: d.name,
            organization: d.organization,
            organization_id: d.organizationId,
            settings: JSON.stringify(d.settings),
            created_at: at,
          });
          break;
        }
        case 'project.settings.update': {
          const row = await trx(t.projects).where({ id: e.data.projectId }).first('settings');
          const settings = { ...(typeof row.settings === 'string' ? JSON.parse(row.settings) : row.settings), ...e.data.settings };
          await trx(t.projects)
            .where({ id: e.data.projectId })
            .update({
              settings: JSON.stringify(settings),
              ...(e.data.webhookSecret !== undefined ? { webhook_secret: e.data.webhookSecret?.masked ?? null } : {}),
            });
          break;
        }
        case 'project.env_var.create':
          await envVarTable(t.project_env_vars, 'project_id').store(trx, e.data.projectId, e.data.name, e.data.secret.masked, at);
          break;
        case 'project.env_var.delete':
          await envVarTable(t.project_env_vars, 'project_id').remove(trx, e.data.projectId, e.data.name);
          break;
        // following registered Gyre's webhook with a secret of its own
        case 'project.webhook.create':
          await trx(t.projects).where({ id: e.data.projectId }).update({ webhook_secret: e.data.webhookSecret.masked });
          break;
      }
    }
  },
});

const { projects, project_env_vars } = projectsProjection.tables;
const toProject = (r: Record<string, unknown>): ProjectRow => ({
  id: r.id as string,
  slug: r.slug as string,
  name: r.name as string,
  organization: r.organization as string,
  organizationId: r.organization_id as string,
  settings: (typeof r.settings === 'string' ? JSON.parse(r.settings) : r.settings) as ProjectSettings,
  webhookSecret: (r.webhook_secret as string | null) ?? null,
  createdAt: isoTime(r.created_at),
});

/** By lower-cased slug (`gh/org/repo`). */
export const projectBySlug = async (db: Knex, key: string): Promise<ProjectRow | undefined> => {
  const row = await db(projects).where({ slug_key: key }).first();
  return row ? toProject(row) : undefined;
};

export const projectById = async (db: Knex, id: string): Promise<ProjectRow | undefined> => {
  const row = await db(projects).where({ id }).first();
  return row ? toProject(row) : undefined;
};

export const projectsPage = async (db: Knex, first: number, after?: string): Promise<{ projects: ProjectRow[]; hasNextPage: boolean }> => {
  const q = db(projects)
    .orderBy('slug_key')
    .limit(first + 1);
  if (after) q.where('slug_key', '>', after);
  const rows = (await q) as Array<Record<string, unknown>>;
  return { projects: rows.slice(0, first).map(toProject), hasNextPage: rows.length > first };
};

const envVars = envVarTable(project_env_vars, 'project_id');
export const projectEnvVar = envVars.one;
export const projectEnvVars = envVars.page;

/** The slug (`gh/org`) of the organization with this id, if a project of it is followed. */
export const projectOrgSlugById = async (db: Knex, organizationId: string): Promise<string | undefined> => {
  const row = await db(projects).where({ organization_id: organizationId }).first('organization');
  return row ? `gh/${row.organization as string}` : undefined;
};

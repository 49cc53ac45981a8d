import type { Knex } from 'knex';
import type { ProjectEvent } from '../domain/projects/project.ts';
import { defineProjection } from './projection.ts';

/** Whether a project is followed, and the webhook Gyre registered on its GitHub repository (never its secret). */
export interface ProjectFollowRow {
  readonly projectId: string;
  readonly followed: boolean;
  /** `owner/name` on the GitHub host, when following registered a webhook there. */
  readonly repository: string | null;
  readonly hookId: number | null;
  /** Whose GitHub token registered it, and posts commit statuses. */
  readonly followerId: string | null;
  readonly followerLogin: string | null;
}

export const projectFollowsProjection = defineProjection({
  name: 'project-follows',
  // v2: every webhook Gyre registered, by its id (GitHub's X-GitHub-Hook-ID), kept after unfollowing
  version: 2,
  handles: [{ exact: 'project.create' }, { exact: 'project.follow' }, { exact: 'project.unfollow' }, { exact: 'project.webhook.create' }],
  tables: ['project_follows', 'project_hooks'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.project_follows} (
      project_id text primary key, followed boolean not null, repository text, hook_id bigint, follower_id text, follower_login text)`);
    await db.raw(`create table if not exists ${t.project_hooks} (hook_id bigint primary key, project_id text not null)`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as ProjectEvent;
      const id = e.data.projectId;
      switch (e.type) {
        case 'project.create':
          await trx(t.project_follows).insert({ project_id: id, followed: true }).onConflict('project_id').ignore();
          break;
        case 'project.follow':
          await trx(t.project_follows).where({ project_id: id }).update({ followed: true });
          break;
        case 'project.unfollow':
          await trx(t.project_follows)
            .where({ project_id: id })
            .update({ followed: false, repository: null, hook_id: null, follower_id: null, follower_login: null });
          break;
        case 'project.webhook.create':
          await trx(t.project_follows)
            .where({ project_id: id })
            .update({ repository: e.data.repository, hook_id: e.data.hookId, follower_id: e.data.followerId, follower_login: e.data.followerLogin });
          await trx(t.project_hooks).insert({ hook_id: e.data.hookId, project_id: id }).onConflict('hook_id').merge();
          break;
      }
    }
  },
});

const { project_follows, project_hooks } = projectFollowsProjection.tables;

/** A project's follow (one the read model has not reached yet reads as followed, without a webhook). */
export const projectFollow = async (db: Knex, projectId: string): Promise<ProjectFollowRow> => {
  const r = await db(project_follows).where({ project_id: projectId }).first();
  if (!r) return { projectId, followed: true, repository: null, hookId: null, followerId: null, followerLogin: null };
  return {
    projectId,
    followed: Boolean(r.followed),
    repository: (r.repository as string | null) ?? null,
    hookId: r.hook_id == null ? null : Number(r.hook_id),
    followerId: (r.follower_id as string | null) ?? null,
    followerLogin: (r.follower_login as string | null) ?? null,
  };
};

/** The project a webhook Gyre registered was registered for (unfollowed since, or not), by the hook's id; undefined for a hook Gyre never registered. */
export const projectIdOfHook = async (db: Knex, hookId: number): Promise<string | undefined> => {
  const r = await db(project_hooks).where({ hook_id: hookId }).first('project_id');
  return (r?.project_id as string | undefined) ?? undefined;
};

import type { Knex } from 'knex';
import type { PullRequestEvent } from '../domain/pipelines/pull-request.ts';
import { defineProjection } from './projection.ts';

/** The pull requests of each project, open or closed, as GitHub's deliveries told them. */
export const pullRequestsProjection = defineProjection({
  name: 'pull_requests',
  version: 1,
  handles: [{ prefix: 'pull_request.' }],
  tables: ['pull_requests'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.pull_requests} (
      project_id text not null, number int not null, url text not null, head_sha text not null, head_branch text not null, base_branch text not null,
      from_fork boolean not null, head_owner text not null, head_repo text not null, open boolean not null, updated_at timestamptz not null,
      primary key (project_id, number))`);
    await db.raw(`create index if not exists ${t.pull_requests}_branch on ${t.pull_requests} (project_id, head_branch) where open`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as PullRequestEvent;
      const at = recorded.occurredAt;
      if (e.type === 'pull_request.open') {
        const d = e.data;
        const row = {
          url: d.url,
          head_sha: d.headSha,
          head_branch: d.headBranch,
          base_branch: d.baseBranch,
          from_fork: d.fromFork,
          head_owner: d.headOwner,
          head_repo: d.headRepo,
          open: true,
          updated_at: at,
        };
        await trx(t.pull_requests)
          .insert({ project_id: d.projectId, number: d.number, ...row })
          .onConflict(['project_id', 'number'])
          .merge(row);
      } else if (e.type === 'pull_request.close') {
        await trx(t.pull_requests).where({ project_id: e.data.projectId, number: e.data.number }).update({ open: false, updated_at: at });
      }
    }
  },
});

const { pull_requests } = pullRequestsProjection.tables;

export interface PullRequestRow {
  readonly number: number;
  readonly url: string;
  readonly headBranch: string;
  readonly fromFork: boolean;
  readonly headOwner: string;
  readonly headRepo: string;
}
const toPullRequest = (r: Record<string, unknown>): PullRequestRow => ({
  number: Number(r.number),
  url: r.url as string,
  headBranch: r.head_branch as string,
  fromFork: Boolean(r.from_fork),
  headOwner: r.head_owner as string,
  headRepo: r.head_repo as string,
});

/** The open pull requests from a branch of the project's own repository (not a fork's branch of the same name), oldest first. */
export const openPullRequestsOfBranch = async (db: Knex, projectId: string, branch: string): Promise<PullRequestRow[]> =>
  (
    (await db(pull_requests).where({ project_id: projectId, head_branch: branch, open: true, from_fork: false }).orderBy('number')) as Array<
      Record<string, unknown>
    >
  ).map(toPullRequest);

/** Whether pull request `number` of the project is open as the deliveries told it; undefined when none told of it. */
export const pullRequestIsOpen = async (db: Knex, projectId: string, number: number): Promise<boolean | undefined> => {
  const r = await db(pull_requests).where({ project_id: projectId, number }).first('open');
  return r ? Boolean(r.open) : undefined;
};

import type { Knex } from 'knex';
import type { PlacementEvent } from '../domain/nomad/placement.ts';
import { jobsProjection } from './jobs.ts';
import { defineProjection, isoTime } from './projection.ts';

/** A task Nomad places, as the worker, the agent protocol and "why is my job queued" read it. */
export interface PlacementRow {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly nomadJobId: string;
  readonly resourceClass: string;
  /** submitted: not yet taken by Nomad; registered; allocated; failed; stopped (its token no longer works). */
  readonly status: 'submitted' | 'registered' | 'allocated' | 'failed' | 'stopped';
  readonly reason: string | null;
  readonly nodeName: string | null;
  readonly updatedAt: string;
}

/** Tasks placed through Nomad; a token's hash is kept only to let its one-shot agent in. */
export const nomadProjection = defineProjection({
  name: 'nomad',
  version: 1,
  handles: [{ prefix: 'nomad.job.' }],
  tables: ['nomad_placements'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.nomad_placements} (
      job_id text not null, task_index integer not null, nomad_job_id text not null, resource_class text not null,
      token_hash text not null unique, status text not null, reason text, node_name text, updated_at timestamptz not null,
      primary key (job_id, task_index))`);
    await db.raw(`create index if not exists ${t.nomad_placements}_active on ${t.nomad_placements} (status) where status <> 'stopped'`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const e = recorded as unknown as PlacementEvent;
      const row = trx(t.nomad_placements).where({ job_id: e.data.jobId, task_index: e.data.taskIndex });
      const at = recorded.occurredAt;
      switch (e.type) {
        case 'nomad.job.submit':
          await trx(t.nomad_placements)
            .insert({
              job_id: e.data.jobId,
              task_index: e.data.taskIndex,
              nomad_job_id: e.data.nomadJobId,
              resource_class: e.data.resourceClass,
              token_hash: e.data.tokenHash,
              status: 'submitted',
              updated_at: at,
            })
            .onConflict(['job_id', 'task_index'])
            .ignore();
          break;
        case 'nomad.job.register':
          await row.update({ status: 'registered', reason: null, updated_at: at });
          break;
        case 'nomad.job.wait':
          await row.update({ reason: e.data.reason, updated_at: at });
          break;
        case 'nomad.job.allocate':
          await row.update({ status: 'allocated', reason: null, node_name: e.data.nodeName, updated_at: at });
          break;
        case 'nomad.job.fail':
          await row.update({ status: 'failed', reason: e.data.reason, updated_at: at });
          break;
        case 'nomad.job.stop':
          await row.update({ status: 'stopped', updated_at: at });
          break;
      }
    }
  },
});

const { nomad_placements: placements } = nomadProjection.tables;
const toRow = (r: Record<string, unknown>): PlacementRow => ({
  jobId: r.job_id as string,
  taskIndex: Number(r.task_index),
  nomadJobId: r.nomad_job_id as string,
  resourceClass: r.resource_class as string,
  status: r.status as PlacementRow['status'],
  reason: (r.reason as string | null) ?? null,
  nodeName: (r.node_name as string | null) ?? null,
  updatedAt: isoTime(r.updated_at),
});

/** The placement whose one-shot agent holds this token, while its Nomad job is not stopped. */
export const placementByTokenHash = async (db: Knex, hash: string): Promise<PlacementRow | undefined> => {
  const r = await db(placements).where({ token_hash: hash }).whereNot({ status: 'stopped' }).first();
  return r ? toRow(r) : undefined;
};
export const placementOfTask = async (db: Knex, jobId: string, taskIndex: number): Promise<PlacementRow | undefined> => {
  const r = await db(placements).where({ job_id: jobId, task_index: taskIndex }).first();
  return r ? toRow(r) : undefined;
};
/** Placements whose Nomad job is not yet stopped: the worker follows these. */
export const activePlacements = async (db: Knex): Promise<PlacementRow[]> =>
  (await db(placements).whereNot({ status: 'stopped' }).orderBy('updated_at')).map(toRow);

/** Queued tasks of these classes that Nomad has no placement for, longest waiting first. */
export const unplacedTasks = async (db: Knex, resourceClasses: ReadonlyArray<string>, limit: number): Promise<Array<{ jobId: string; taskIndex: number }>> => {
  if (resourceClasses.length === 0) return [];
  const tasks = jobsProjection.tables.job_tasks;
  const rows = (await db(`${tasks} as t`)
    .leftJoin(`${nomadProjection.tables.nomad_placements} as p`, function () {
      this.on('p.job_id', 't.job_id').andOn('p.task_index', 't.task_index');
    })
    .where('t.status', 'queued')
    .whereIn('t.resource_class', [...resourceClasses])
    .whereNull('p.job_id')
    .orderBy([{ column: 't.queued_at' }, { column: 't.job_id' }, { column: 't.task_index' }])
    .limit(limit)
    .select('t.job_id', 't.task_index')) as Array<{ job_id: string; task_index: number }>;
  return rows.map((r) => ({ jobId: r.job_id, taskIndex: Number(r.task_index) }));
};

import type { Knex } from 'knex';
import type { VmInstanceEvent, VmTask } from '../domain/vm/instance.ts';
import type { VmServiceEvent, VmServiceSettings, VmType } from '../domain/vm/service.ts';
import { jobsProjection } from './jobs.ts';
import { defineProjection, isoTime } from './projection.ts';

/** A VM the VM service started, as the worker, the agent protocol, GraphQL and /metrics read it. */
export interface VmInstanceRow {
  readonly instanceId: string;
  readonly provider: 'AWS' | 'GCP';
  readonly vmType: VmType;
  readonly image: string;
  readonly machineType: string;
  /** Requested for a task; false for a prescaled one. */
  readonly forTask: boolean;
  readonly task: VmTask | null;
  readonly cloudId: string | null;
  readonly address: string | null;
  /** requested: not yet started by the cloud; started; failed; terminated (its token no longer works). */
  readonly status: 'requested' | 'started' | 'ready' | 'failed' | 'terminated';
  readonly reason: string | null;
  readonly requestedAt: string;
  readonly updatedAt: string;
}

/** The VM service's configuration (its credentials stay sealed in the log) and its instances. */
export const vmProjection = defineProjection({
  name: 'vm',
  version: 2,
  handles: [{ exact: 'vm_service.configure' }, { prefix: 'vm.instance.' }],
  tables: ['vm_service', 'vm_instances'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.vm_service} (id int primary key check (id = 1), settings jsonb not null, updated_at timestamptz not null)`);
    await db.raw(`create table if not exists ${t.vm_instances} (
      instance_id text primary key, provider text not null, vm_type text not null, image text not null, machine_type text not null,
      for_task boolean not null, job_id text, task_index integer, job_name text, cloud_id text, address text,
      token_hash text not null unique, status text not null, reason text, requested_at timestamptz not null, updated_at timestamptz not null)`);
    await db.raw(`create index if not exists ${t.vm_instances}_live on ${t.vm_instances} (vm_type, status) where status <> 'terminated'`);
    await db.raw(`create index if not exists ${t.vm_instances}_task on ${t.vm_instances} (job_id, task_index)`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const at = recorded.occurredAt;
      if (recorded.type === 'vm_service.configure') {
        const e = recorded as unknown as VmServiceEvent;
        await trx(t.vm_service)
          .insert({ id: 1, settings: JSON.stringify(e.data.settings), updated_at: at })
          .onConflict('id')
          .merge();
        continue;
      }
      const e = recorded as unknown as VmInstanceEvent;
      const row = trx(t.vm_instances).where({ instance_id: e.data.instanceId });
      switch (e.type) {
        case 'vm.instance.request':
          await trx(t.vm_instances)
            .insert({
              instance_id: e.data.instanceId,
              provider: e.data.provider,
              vm_type: e.data.vmType,
              image: e.data.image,
              machine_type: e.data.machineType,
              for_task: e.data.task !== null,
              job_id: e.data.task?.jobId ?? null,
              task_index: e.data.task?.taskIndex ?? null,
              job_name: e.data.task?.jobName ?? null,
              token_hash: e.data.tokenHash,
              status: 'requested',
              requested_at: at,
              updated_at: at,
            })
            .onConflict('instance_id')
            .ignore();
          break;
        case 'vm.instance.start':
          await row.update({ status: 'started', cloud_id: e.data.cloudId, address: e.data.address, updated_at: at });
          break;
        case 'vm.instance.ready':
          await row.update({ status: 'ready', address: e.data.address, updated_at: at });
          break;
        case 'vm.instance.assign':
          await row.update({ job_id: e.data.task.jobId, task_index: e.data.task.taskIndex, job_name: e.data.task.jobName, updated_at: at });
          break;
        case 'vm.instance.fail':
          await row.update({ status: 'failed', reason: e.data.reason, updated_at: at });
          break;
        case 'vm.instance.terminate':
          await row.update({ status: 'terminated', reason: trx.raw('coalesce(reason, ?)', [e.data.reason]), updated_at: at });
          break;
      }
    }
  },
});

const { vm_service: service, vm_instances: instances } = vmProjection.tables;
const toRow = (r: Record<string, unknown>): VmInstanceRow => ({
  instanceId: r.instance_id as string,
  provider: r.provider as VmInstanceRow['provider'],
  vmType: r.vm_type as VmType,
  image: r.image as string,
  machineType: r.machine_type as string,
  forTask: Boolean(r.for_task),
  task: r.job_id === null ? null : { jobId: r.job_id as string, taskIndex: Number(r.task_index), jobName: r.job_name as string },
  cloudId: (r.cloud_id as string | null) ?? null,
  address: (r.address as string | null) ?? null,
  status: r.status as VmInstanceRow['status'],
  reason: (r.reason as string | null) ?? null,
  requestedAt: isoTime(r.requested_at),
  updatedAt: isoTime(r.updated_at),
});

/** The VM service's configuration as last configured (credentials in words only), or null when it never was. */
export const vmServiceSettings = async (db: Knex): Promise<VmServiceSettings | null> => {
  const r = await db(service).where({ id: 1 }).first();
  if (!r) return null;
  return (typeof r.settings === 'string' ? JSON.parse(r.settings) : r.settings) as VmServiceSettings;
};

/** The live instance whose one-shot agent holds this token (a remote Docker engine runs no agent: its token is never given out, nor taken). */
export const vmInstanceByTokenHash = async (db: Knex, hash: string): Promise<VmInstanceRow | undefined> => {
  const r = await db(instances).where({ token_hash: hash }).whereNot({ vm_type: 'REMOTE_DOCKER' }).whereNotIn('status', ['failed', 'terminated']).first();
  return r ? toRow(r) : undefined;
};
export const vmInstanceById = async (db: Knex, instanceId: string): Promise<VmInstanceRow | undefined> => {
  const r = await db(instances).where({ instance_id: instanceId }).first();
  return r ? toRow(r) : undefined;
};
/** Instances not yet terminated: the worker follows these. */
export const liveVmInstances = async (db: Knex): Promise<VmInstanceRow[]> =>
  (await db(instances).whereNot({ status: 'terminated' }).orderBy('requested_at')).map(toRow);
/** Instances, newest first, for GraphQL: the live ones and the latest ended ones. */
export const vmInstances = async (db: Knex, o: { live: boolean; limit: number }): Promise<VmInstanceRow[]> =>
  (
    await db(instances)
      .modify((q) => (o.live ? q.whereNot({ status: 'terminated' }) : q))
      .orderBy([{ column: 'requested_at', order: 'desc' }, { column: 'instance_id' }])
      .limit(o.limit)
  ).map(toRow);
/** The VM that ran (or runs) a task, or its remote Docker engine: the latest when it had more than one. */
export const vmInstanceOfTask = async (db: Knex, jobId: string, taskIndex: number, of: 'machine' | 'remote docker'): Promise<VmInstanceRow | undefined> => {
  const r = await db(instances)
    .where({ job_id: jobId, task_index: taskIndex })
    .modify((q) => (of === 'remote docker' ? q.where({ vm_type: 'REMOTE_DOCKER' }) : q.whereNot({ vm_type: 'REMOTE_DOCKER' })))
    .orderBy('requested_at', 'desc')
    .first();
  return r ? toRow(r) : undefined;
};
/** Prescaled instances of a type that no task has taken and that have not ended, oldest first. */
export const idleVmInstances = async (db: Knex, vmType: VmType): Promise<VmInstanceRow[]> =>
  (
    await db(instances)
      .where({ vm_type: vmType, for_task: false })
      .whereNull('job_id')
      .whereIn('status', ['requested', 'started', 'ready'])
      .orderBy([{ column: 'requested_at' }, { column: 'instance_id' }])
  ).map(toRow);

/** Instances by type and what they do, for the pools' view and /metrics: idle (prescaled, untaken), busy (with a task), starting and failed. */
export const vmPoolCounts = async (db: Knex): Promise<Array<{ vmType: VmType; state: 'idle' | 'busy'; count: number }>> => {
  const rows = (await db(instances)
    .whereIn('status', ['requested', 'started', 'ready'])
    .select('vm_type', db.raw(`case when job_id is null then 'idle' else 'busy' end as state`), db.raw('count(*)::int as count'))
    .groupBy('vm_type', 'state')) as Array<{ vm_type: VmType; state: 'idle' | 'busy'; count: number | string }>;
  return rows.map((r) => ({ vmType: r.vm_type, state: r.state, count: Number(r.count) }));
};

/** Queued tasks of these classes that never had an instance, longest waiting first: what a VM service just configured, or a restart, still has to start. A task gets one VM: when that fails, so does the task. */
export const tasksWithoutVm = async (db: Knex, resourceClasses: ReadonlyArray<string>, limit: number): Promise<Array<{ jobId: string; taskIndex: number }>> => {
  if (resourceClasses.length === 0) return [];
  const tasks = jobsProjection.tables.job_tasks;
  const rows = (await db(`${tasks} as t`)
    .where('t.status', 'queued')
    .whereIn('t.resource_class', [...resourceClasses])
    .whereNotExists(function () {
      this.select(db.raw('1')).from(`${instances} as v`).whereRaw(`v.job_id = t.job_id and v.task_index = t.task_index and v.vm_type <> 'REMOTE_DOCKER'`);
    })
    .orderBy([{ column: 't.queued_at' }, { column: 't.job_id' }, { column: 't.task_index' }])
    .limit(limit)
    .select('t.job_id', 't.task_index')) as Array<{ job_id: string; task_index: number }>;
  return rows.map((r) => ({ jobId: r.job_id, taskIndex: Number(r.task_index) }));
};

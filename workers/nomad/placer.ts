import type { Vault } from '../../adapters/encryption/port.ts';
import { nomadJobOf, type NomadJobSettings } from '../../adapters/nomad/job-spec.ts';
import { NomadError, type Nomad } from '../../adapters/nomad/port.ts';
import { allocationEnd, waitingReason } from '../../adapters/nomad/reasons.ts';
import type { UseCases, WithStore } from '../../application/dependencies.ts';
import { generateToken, hashToken } from '../../application/tokens.ts';
import type { TaskRef } from '../../domain/agents/protocol.ts';
import { fold } from '../../domain/decider.ts';
import type { CommandContext, RecordedEvent } from '../../domain/events/envelope.ts';
import type { EventOf } from '../../domain/events/registry.ts';
import { type Job, jobDecider, type jobQueued, type JobEvent, jobStream } from '../../domain/jobs/job.ts';
import { resourceClassKey } from '../../domain/jobs/job-spec.ts';
import {
  type Placement,
  type PlacementCommand,
  type PlacementEvent,
  placementDecider,
  placementStream,
  placementTarget,
  placementTokenLabel,
  placementTokenOwner,
} from '../../domain/nomad/placement.ts';
import { queuedClasses } from '../../projections/jobs.ts';
import { activePlacements, unplacedTasks } from '../../projections/nomad.ts';
import type { JobSecrets } from '../job-secrets.ts';
import type { Reactor } from '../reactor.ts';
import { wakeable } from '../wakeable.ts';

export interface NomadPlacerDeps extends UseCases, WithStore {
  readonly vault: Vault;
  readonly jobSecrets: Pick<JobSecrets, 'nomadTaskToken'>;
  readonly nomad: Nomad;
  readonly settings: NomadJobSettings;
  /** Whether Nomad places a resource class's tasks (GYRE_NOMAD_CLASSES). */
  readonly serves: (resourceClass: string) => boolean;
  /** Ends a task Gyre gives up on (its allocation failed or was lost). */
  readonly endTask: (t: TaskRef, status: 'infrastructure_fail', reason: string) => Promise<void>;
  readonly log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** How long one blocking query on a job's allocations waits (ms). */
  readonly blockingWaitMs?: number;
  /** How long a task's one-shot agent may take to exit by itself once its task ended, before its Nomad job is stopped (ms). */
  readonly settleMs?: number;
  /** How often the placements not yet followed are looked for (ms): those of another server, or of this one before a restart. */
  readonly rescanMs?: number;
}

const system = (correlationId?: string, causationId?: string): CommandContext => ({
  actor: { id: 'gyre', type: 'system', name: 'nomad' },
  request: null,
  ...(correlationId ? { correlationId } : {}),
  ...(causationId ? { causationId } : {}),
});

/** Where the blocking queries on one Nomad job have got to, and whether it has allocations to wait on. */
interface Indexes {
  allocations: number;
  evaluations: number;
  placed: boolean;
}

const ended = (job: Job | null, taskIndex: number) => {
  const status = job?.tasks[taskIndex]?.status;
  return !job || status === undefined || (status !== 'queued' && status !== 'running');
};
/** The one-shot agent of an allocation names itself after it (`nomad-${NOMAD_SHORT_ALLOC_ID}`). */
const agentNameOf = (allocationId: string) => `nomad-${allocationId.slice(0, 8)}`;
/** Whether the task still waits for this allocation's agent, or runs on it: another agent's run is not this allocation's to end. */
const awaits = (job: Job | null, taskIndex: number, allocationId: string) => {
  const t = job?.tasks[taskIndex];
  return t?.status === 'queued' || (t?.status === 'running' && t.agent?.name === agentNameOf(allocationId));
};

/**
 * Places the tasks of the classes Nomad serves as Nomad batch jobs and follows them: a reactor records
 * each task's placement (with its sealed single-use token) when its job is queued, and a follower per
 * placement registers its Nomad job, records why Nomad has not placed it or where it did, ends the task
 * `infrastructure_fail` once when its allocation fails or is lost, and stops and purges the Nomad job
 * when the task ends. Everything it does is decided from the placement's and the job's streams, so a
 * restart, or a second server following the same placement, does nothing twice.
 */
export const createNomadPlacer = (deps: NomadPlacerDeps) => {
  const waitMs = deps.blockingWaitMs ?? 10_000;
  const following = new Map<string, { wake(): void }>();
  const running = new Set<Promise<void>>();
  let closed = false;
  let rescan: NodeJS.Timeout | null = null;

  const placementOf = async (jobId: string, taskIndex: number) =>
    fold(placementDecider, (await deps.store.readStream(placementStream(jobId, taskIndex))) as unknown as PlacementEvent[]);
  const jobOf = async (jobId: string) => fold(jobDecider, (await deps.store.readStream(jobStream(jobId))) as unknown as JobEvent[]);
  const decide = (p: { jobId: string; taskIndex: number; name: string }, command: PlacementCommand, context: CommandContext) =>
    deps.commands.execute({
      stream: placementStream(p.jobId, p.taskIndex),
      decider: placementDecider,
      command,
      context,
      target: placementTarget(p),
      maxAttempts: 20,
    });

  /** Registers the Nomad job; a refusal or an unreachable Nomad is recorded as why the task waits, and tried again later. */
  const register = async (p: Placement, job: Job, context: CommandContext, signal: AbortSignal): Promise<boolean> => {
    const token = await deps.jobSecrets.nomadTaskToken(p.jobId, p.taskIndex);
    const spec = nomadJobOf(
      {
        nomadJobId: p.nomadJobId,
        name: p.name,
        taskIndex: p.taskIndex,
        resourceClass: p.resourceClass,
        cpus: job.spec.resourceClass.cpus,
        memoryMb: job.spec.resourceClass.memoryMb,
        token,
      },
      deps.settings,
    );
    try {
      const { evalId } = await deps.nomad.register(spec, signal);
      await decide(p, { type: 'register', evalId }, context);
      // another server may have stopped the placement (its task ended) while this registration was on its way
      if ((await placementOf(p.jobId, p.taskIndex))?.stopped) await deps.nomad.stopAndPurge(p.nomadJobId, signal);
      return true;
    } catch (e) {
      if (!(e instanceof NomadError)) throw e;
      const reason =
        e.status === 0
          ? `Gyre cannot reach Nomad to place it: ${e.message}`
          : e.status === 403
            ? `Nomad refused to register its job (403 ${e.message}): GYRE_NOMAD_TOKEN is wrong, expired, or lacks submit-job in the namespace`
            : `Nomad refused to register its job (${e.status} ${e.message})`;
      deps.log.error({ nomadJob: p.nomadJobId, status: e.status, nomad: e.message }, 'nomad: cannot register a task');
      await decide(p, { type: 'wait', reason }, context);
      return false;
    }
  };

  /**
   * One look at a registered job, waiting (a blocking query) for a change in its allocations, or while it
   * has none in its evaluations, which is where Nomad says why it cannot place it.
   */
  const look = async (p: Placement, at: Indexes, signal: AbortSignal, context: CommandContext): Promise<void> => {
    if (!at.placed && at.evaluations > 0) at.evaluations = (await deps.nomad.evaluations(p.nomadJobId, { index: at.evaluations, waitMs, signal })).index;
    const allocs = await deps.nomad.allocations(p.nomadJobId, { index: at.placed ? at.allocations : 0, waitMs, signal });
    at.allocations = allocs.index;
    at.placed = allocs.value.length > 0;
    for (const a of allocs.value) {
      // recorded even when first seen ended (a short task can run its whole course between two looks): the audit log says where it ran
      if (!p.allocations.includes(a.ID)) await decide(p, { type: 'allocate', allocationId: a.ID, nodeId: a.NodeID, nodeName: a.NodeName }, context);
      const end = allocationEnd(a);
      if (!end) continue;
      // an allocation that ended while its task still waited for it or ran on it: the agent never started, or died
      if (!awaits(await jobOf(p.jobId), p.taskIndex, a.ID)) continue;
      const failed = await decide(p, { type: 'fail', allocationId: a.ID, reason: end }, context);
      if (failed.events.length) deps.log.warn({ nomadJob: p.nomadJobId, allocation: a.ID }, `nomad: ${end}`);
      await deps.endTask({ jobId: p.jobId, taskIndex: p.taskIndex }, 'infrastructure_fail', end);
    }
    if (!at.placed) {
      const evaluations = await deps.nomad.evaluations(p.nomadJobId, { signal });
      at.evaluations = evaluations.index;
      const reason = waitingReason(evaluations.value);
      if (reason) await decide(p, { type: 'wait', reason }, context);
    }
  };

  /** Gives a one-shot agent whose task has ended a moment to exit by itself before its job is stopped. */
  const settle = async (p: Placement, deadline: number, signal: AbortSignal, context: CommandContext) => {
    let index = 0;
    while (Date.now() < deadline) {
      const allocs = await deps.nomad.allocations(p.nomadJobId, { index, waitMs: deadline - Date.now(), signal });
      // the task may have run its whole course while this server waited on evaluations: where it ran is still recorded
      for (const a of allocs.value.filter((x) => !p.allocations.includes(x.ID)))
        await decide(p, { type: 'allocate', allocationId: a.ID, nodeId: a.NodeID, nodeName: a.NodeName }, context);
      if (allocs.value.every((a) => allocationEnd(a) !== null)) return;
      index = allocs.index;
    }
  };

  const follow = (jobId: string, taskIndex: number) => {
    const key = `${jobId}/${taskIndex}`;
    if (following.has(key) || closed) return;
    const w = wakeable();
    following.set(key, w);
    const loop = async () => {
      const at: Indexes = { allocations: 0, evaluations: 0, placed: false };
      let settleBy: number | undefined;
      let backoff = 1000;
      while (!closed) {
        const signal = w.round();
        try {
          const p = await placementOf(jobId, taskIndex);
          if (!p || p.stopped) return;
          const job = await jobOf(jobId);
          const context = system(job?.spec.pipelineId);
          if (ended(job, taskIndex)) {
            settleBy ??= Date.now() + (deps.settleMs ?? 5000);
            if (p.evalId !== null) await settle(p, settleBy, signal, context);
            await deps.nomad.stopAndPurge(p.nomadJobId, signal);
            await decide(p, { type: 'stop' }, context);
            return;
          }
          if (p.evalId === null) {
            if (await register(p, job!, context, signal)) backoff = 1000;
            else {
              await w.sleep(backoff);
              backoff = Math.min(backoff * 2, 60_000);
            }
            continue;
          }
          await look(p, at, signal, context);
          backoff = 1000;
        } catch (e) {
          if (closed) return;
          if (signal.aborted) continue;
          deps.log.error({ err: e, nomadJob: `gyre-${key}` }, 'nomad: following a task failed; trying again');
          await w.sleep(backoff);
          backoff = Math.min(backoff * 2, 60_000);
        }
      }
    };
    const done = loop().finally(() => {
      following.delete(key);
      running.delete(done);
    });
    running.add(done);
  };

  const queued = async (e: RecordedEvent) => {
    const { spec } = (e as unknown as EventOf<typeof jobQueued>).data;
    if (!deps.serves(resourceClassKey(spec.resourceClass))) return;
    // a task no longer queued is not placed: the log replayed to a placer new to it (Nomad just enabled), or a job already cancelled
    const job = await jobOf(spec.jobId);
    for (let taskIndex = 0; taskIndex < spec.parallelism; taskIndex++) {
      if (job?.tasks[taskIndex]?.status !== 'queued' && !(await placementOf(spec.jobId, taskIndex))) continue;
      await submit(spec, taskIndex, e.id);
    }
  };
  const submit = async (spec: Job['spec'], taskIndex: number, causationId?: string) => {
    const token = generateToken();
    const sealedToken = await deps.vault.seal(placementTokenOwner, placementTokenLabel(spec.jobId, taskIndex), token);
    await decide(
      { jobId: spec.jobId, taskIndex, name: spec.name },
      {
        type: 'submit',
        jobId: spec.jobId,
        taskIndex,
        name: spec.name,
        resourceClass: resourceClassKey(spec.resourceClass),
        tokenHash: hashToken(token),
        sealedToken,
      },
      system(spec.pipelineId, causationId),
    );
    follow(spec.jobId, taskIndex);
  };

  const reactor: Reactor = {
    name: 'nomad-placer',
    handles: [{ exact: 'job.queue' }, { exact: 'job.task.finish' }],
    reads: [],
    react: async (e) => {
      if (e.type === 'job.queue') return queued(e);
      const d = e.data as { jobId: string; taskIndex: number };
      following.get(`${d.jobId}/${d.taskIndex}`)?.wake();
    },
  };

  /** Follows the placements not yet stopped, and places queued tasks of a class Nomad serves that have none (GYRE_NOMAD_CLASSES grew since they were queued). */
  const adopt = async () => {
    for (const p of await activePlacements(deps.db)) follow(p.jobId, p.taskIndex);
    const served = (await queuedClasses(deps.db)).filter(deps.serves);
    for (const t of await unplacedTasks(deps.db, served, 100)) {
      const job = await jobOf(t.jobId);
      if (job?.tasks[t.taskIndex]?.status === 'queued') await submit(job.spec, t.taskIndex);
    }
  };

  return {
    reactor,
    /** Follows every placement not yet stopped, and looks for new ones every `rescanMs`. */
    async start() {
      await adopt().catch((e) => deps.log.error({ err: e }, 'nomad: cannot follow or place the waiting tasks; trying again'));
      const every = deps.rescanMs ?? 5000;
      const again = () => {
        rescan = setTimeout(() => {
          void adopt()
            .catch((e) => deps.log.error({ err: e }, 'nomad: cannot read the placements'))
            .finally(() => !closed && again());
        }, every);
        rescan.unref();
      };
      again();
    },
    async stop() {
      closed = true;
      if (rescan) clearTimeout(rescan);
      for (const f of following.values()) f.wake();
      await Promise.allSettled([...running]);
    },
  };
};
export type NomadPlacer = ReturnType<typeof createNomadPlacer>;

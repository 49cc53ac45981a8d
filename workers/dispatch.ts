import type { Knex } from 'knex';
import type { ObjectStore } from '../adapters/objectstore/port.ts';
import type { OutputStore } from '../adapters/output/port.ts';
import type { UseCases, WithStore } from '../application/dependencies.ts';
import * as files from '../application/job-files.ts';
import { tellWorkflow } from '../application/job-progress.ts';
import { memberByLogin } from '../application/members.ts';
import { agentDecider, agentStream, agentTarget } from '../domain/agents/agent.ts';
import {
  Assignment,
  taskKey,
  type AgentChannel,
  type AgentInfo,
  type Registration,
  type RemoteEngine,
  type StepEnd,
  type StepRef,
  type TaskEnd,
  type TaskRef,
} from '../domain/agents/protocol.ts';
import { DomainError, NotFoundError } from '../domain/errors.ts';
import type { CommandContext, Position, RecordedEvent } from '../domain/events/envelope.ts';
import { uuidFrom } from '../domain/ids.ts';
import { builtinEnvironment } from '../domain/jobs/environment.ts';
import { jobDecider, jobStream, jobTarget, type JobCommand, type JobState, type TaskResult } from '../domain/jobs/job.ts';
import { isFleetClass } from '../domain/runners/resource-class.ts';
import { placeTask } from '../domain/scheduling/placement.ts';
import { agentById, jobRunById, queuedTasks, runningOnAgent, taskByRef } from '../projections/jobs.ts';
import { pipelineById } from '../projections/pipelines.ts';
import { vmInstanceById } from '../projections/vm.ts';
import type { JobSecrets } from './job-secrets.ts';
import type { LiveOutput } from '../application/live-output.ts';
import type { TaskBoard } from './task-board.ts';

/** Operational state outside the log: when each agent was last heard from (a heartbeat is not an event). */
const heartbeats = 'agent_heartbeats';
/** A waiting claim looks at the queue again at least this often, should a wake-up have been lost. */
const claimLookMs = 10_000;
export const ensureHeartbeatTable = (db: Knex) => db.raw(`create table if not exists ${heartbeats} (agent_id text primary key, seen_at timestamptz not null)`);
export const touchAgent = (db: Knex, agentId: string) =>
  db.raw(`insert into ${heartbeats} (agent_id, seen_at) values (?, now()) on conflict (agent_id) do update set seen_at = excluded.seen_at`, [agentId]);
/** Agents heard from within `ms`. */
export const liveAgentIds = async (db: Knex, ms: number): Promise<Set<string>> =>
  new Set((await db(heartbeats).whereRaw(`seen_at > now() - (? * interval '1 millisecond')`, [ms]).pluck('agent_id')) as string[]);
/** When each agent was last heard from, and whether that was within `ms` (by the database's clock). */
export const agentPresence = async (db: Knex, ms: number): Promise<Map<string, AgentPresence>> => {
  const rows = (await db(heartbeats).select('agent_id', 'seen_at', db.raw(`seen_at > now() - (? * interval '1 millisecond') as online`, [ms]))) as Array<{
    agent_id: string;
    seen_at: Date | string;
    online: boolean;
  }>;
  return new Map(rows.map((r) => [r.agent_id, { lastSeenAt: new Date(r.seen_at).toISOString(), online: Boolean(r.online) }]));
};
export interface AgentPresence {
  readonly lastSeenAt: string;
  /** Heard from within its lease. */
  readonly online: boolean;
}
/** Agents with running tasks not heard from within `ms`. */
export const silentAgentIds = async (db: Knex, ms: number): Promise<string[]> =>
  (await db(heartbeats).whereRaw(`seen_at <= now() - (? * interval '1 millisecond')`, [ms]).pluck('agent_id')) as string[];

/**
 * Who an agent is: a runner token of a class (remote agents), the agent inside `gyre serve` (`serverId`:
 * the local agents of two servers on one database are two agents), or a one-shot agent with the
 * single-use token of the one task Nomad placed it for.
 */
export type AgentIdentity =
  | { kind: 'token'; tokenId: string; resourceClass: string }
  | { kind: 'local'; serverId: string }
  | { kind: 'task'; jobId: string; taskIndex: number; resourceClass: string }
  | { kind: 'vm'; instanceId: string };

export interface DispatchDeps extends UseCases, WithStore {
  readonly jobSecrets: JobSecrets;
  readonly output: OutputStore;
  /** Where the files of file steps go (artifacts, test results, caches, workspaces). */
  readonly objects: ObjectStore;
  readonly live: LiveOutput;
  readonly board: TaskBoard;
  /** The task's remote Docker engine (the VM service starts it): asked for once, then how far it is. */
  readonly remoteEngine: (t: TaskRef) => Promise<RemoteEngine>;
  readonly projections: { waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean> };
  readonly settings: { readonly heartbeatMs: number; readonly leaseMs: number; readonly publicUrl: string };
}

const agentActor = (agent: { agentId: string; name: string }) => ({ id: agent.agentId, type: 'agent', name: agent.name });

/**
 * The classes an agent serves: its token's class, or for the local agent the built-in classes of the
 * kinds it runs, but never a class Nomad or the VM service places (`placedElsewhere`); a one-shot agent
 * serves its task's class, and one on a VM the `machine` classes (it claims only the task its VM is given).
 */
export const servedClasses = (
  identity: AgentIdentity,
  info: AgentInfo,
  builtIn: { docker: ReadonlyArray<string>; machine: ReadonlyArray<string> },
  placedElsewhere: (resourceClass: string) => boolean = () => false,
): string[] => {
  if (identity.kind === 'task') return [identity.resourceClass];
  if (identity.kind === 'vm') return builtIn.machine.map((n) => `machine:${n}`);
  return servedByAgents(identity, info, builtIn).filter((rc) => !placedElsewhere(rc));
};

const servedByAgents = (
  identity: Exclude<AgentIdentity, { kind: 'task' | 'vm' }>,
  info: AgentInfo,
  builtIn: { docker: ReadonlyArray<string>; machine: ReadonlyArray<string> },
): string[] => {
  if (identity.kind === 'token') {
    const rc = identity.resourceClass;
    // a fleet agent serves its kind only if it can run it (a docker agent whose engine is down serves nothing)
    if (isFleetClass(rc)) return info.kinds.includes(rc) ? builtIn[rc].map((n) => `${rc}:${n}`) : [];
    return [identity.resourceClass];
  }
  return info.kinds.flatMap((k) => builtIn[k].map((n) => `${k}:${n}`));
};

/**
 * What an agent is registered as offering. An agent of a self-hosted class that sets no task limit
 * runs one task at a time, as CircleCI's machine runner does (its tasks state no size, so capacity
 * cannot bound them); an agent of a fleet (`docker`, `machine`) takes as many as fit.
 */
export const registeredInfo = (identity: AgentIdentity, info: AgentInfo): AgentInfo =>
  identity.kind === 'task' || identity.kind === 'vm' || (identity.kind === 'token' && !isFleetClass(identity.resourceClass) && info.maxTasks === null)
    ? { ...info, maxTasks: 1 }
    : info;

/**
 * Gyre's side of the agent protocol: registration, placement of queued tasks on agents that claim
 * them, heartbeats, and the reports of steps and tasks. It is the one place that hands out secrets,
 * decrypted for the task being dispatched.
 */
export const createDispatch = (
  deps: DispatchDeps,
  builtIn: { docker: ReadonlyArray<string>; machine: ReadonlyArray<string> },
  placedElsewhere: (resourceClass: string) => boolean = () => false,
) => {
  const { db } = deps;
  const jobCommand = async (
    jobId: string,
    command: JobCommand,
    context: CommandContext,
  ): Promise<{ events: ReadonlyArray<RecordedEvent>; state: JobState }> => {
    const r = await deps.commands.execute({
      stream: jobStream(jobId),
      decider: jobDecider,
      command,
      context,
      target: (s) => jobTarget({ jobId, name: s?.spec.name ?? jobId }),
      maxAttempts: 20,
    });
    // placement and reports read the jobs read model: it must hold what was just decided
    if (r.position) await deps.projections.waitFor(r.position, 5000, ['jobs']);
    // a job that started or ended tells its workflow now, so dependents move without waiting for the
    // job-progress reactor, which tells it in any case (and is why a failure here can be let go)
    for (const e of r.events) await tellWorkflow(deps, e).catch(() => undefined);
    return r;
  };
  const agentOf = async (agentId: string) => {
    const agent = await agentById(db, agentId);
    if (!agent) throw new NotFoundError('this agent is not registered: register it again', 'AGENT_NOT_FOUND');
    return agent;
  };
  const contextOf = (agent: { agentId: string; name: string }, correlationId?: string): CommandContext => ({
    actor: agentActor(agent),
    request: null,
    ...(correlationId ? { correlationId } : {}),
  });
  /** Reports come only from the agent that holds the task. */
  const held = (agentId: string, t: TaskRef) => files.requireHeldTask(deps, agentId, t);

  const endTask = async (agent: { agentId: string; name: string } | null, t: TaskRef, status: TaskResult, reason: string | null) => {
    const job = await jobRunById(db, t.jobId);
    const context: CommandContext = agent
      ? contextOf(agent, job?.pipelineId)
      : { actor: { id: 'gyre', type: 'system', name: 'gyre' }, request: null, ...(job ? { correlationId: job.pipelineId } : {}) };
    await jobCommand(t.jobId, { type: 'finishTask', taskIndex: t.taskIndex, agentId: agent?.agentId ?? null, status, reason }, context);
    deps.board.notify();
  };

  /** The task's environment and secrets: decrypted here, for this task only. */
  const assignment = async (agent: { agentId: string; name: string }, jobId: string, taskIndex: number, claim: RecordedEvent): Promise<Assignment | null> => {
    const job = (await jobRunById(db, jobId))!;
    const spec = job.spec;
    const buildUrl = `${deps.settings.publicUrl}/pipelines/${spec.projectSlug}/${spec.pipelineNumber}/workflows/${spec.workflowId}/jobs/${spec.jobNumber ?? ''}`;
    let secretEnv: Record<string, string>;
    let continuationKey: string | null = null;
    try {
      // a setup pipeline's jobs get its continuation key until it is continued
      const pipeline = await pipelineById(db, spec.pipelineId);
      if (pipeline?.setupRevision != null && !pipeline.continuedAt)
        continuationKey = await deps.jobSecrets.continuationKey({
          projectId: pipeline.projectId,
          pipelineId: pipeline.id,
          setupRevision: pipeline.setupRevision,
        });
      secretEnv = await deps.jobSecrets.environmentFor({
        projectSlug: spec.projectSlug,
        contexts: spec.contexts,
        member: await memberByLogin(deps, spec.runsFor),
        jobId,
        fromFork: spec.vcs.fromFork,
        context: { ...contextOf(agent, spec.pipelineId), causationId: claim.id },
      });
    } catch (e) {
      // a context refused (failed), or the vault failing (infrastructure): the task ends now, not a lease later
      await endTask(
        agent,
        { jobId, taskIndex },
        e instanceof DomainError ? 'failed' : 'infrastructure_fail',
        e instanceof DomainError ? e.message : "the job's secrets could not be read",
      );
      if (e instanceof DomainError) return null;
      throw e;
    }
    return Assignment.parse({
      jobId,
      taskIndex,
      spec,
      environment: { ...secretEnv, ...builtinEnvironment(spec, taskIndex, buildUrl, continuationKey) },
      secrets: [...Object.values(secretEnv), ...(continuationKey === null ? [] : [continuationKey])],
      deadline: new Date(Date.parse(claim.occurredAt) + spec.timeoutMs).toISOString(),
    });
  };

  /**
   * Claims on this server go one at a time: each then reads a queue that holds the claims before it,
   * instead of every waiting agent racing for the same oldest task. Servers still race each other;
   * the claim command settles that.
   */
  let claiming: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const next = claiming.catch(() => undefined).then(work);
    claiming = next;
    return next;
  };

  const tryClaim = async (
    agent: { agentId: string; name: string; resourceClasses: string[]; info: AgentInfo },
    only: TaskRef | null,
    signal?: AbortSignal,
  ): Promise<Assignment | null | 'none'> => {
    if (signal?.aborted) return 'none';
    const running = await runningOnAgent(db, agent.agentId);
    const skipped = new Set<string>();
    for (;;) {
      const queue = (await queuedTasks(db, agent.resourceClasses, 100, only ?? undefined)).filter((t) => !skipped.has(taskKey(t)));
      const pick = placeTask(queue, {
        capacity: agent.info.capacity,
        running: running.map((r) => ({ cpus: r.cpus, memoryMb: r.memoryMb })),
        maxTasks: agent.info.maxTasks,
      });
      if (!pick) return 'none';
      try {
        const job = await jobRunById(db, pick.jobId);
        const { events } = await jobCommand(
          pick.jobId,
          { type: 'claim', taskIndex: pick.taskIndex, agent: { id: agent.agentId, name: agent.name } },
          contextOf(agent, job?.pipelineId),
        );
        return await assignment(agent, pick.jobId, pick.taskIndex, events[0]!);
      } catch (e) {
        if (!(e instanceof DomainError && ['TASK_TAKEN', 'JOB_ENDED'].includes(e.code))) throw e;
        skipped.add(taskKey(pick));
      }
    }
  };

  /** The one task a one-shot agent may claim: its token's, or the one its VM was given ('waiting' until then); null for any of its classes. */
  const onlyTaskOf = async (identity: AgentIdentity): Promise<TaskRef | 'waiting' | null> => {
    if (identity.kind === 'task') return { jobId: identity.jobId, taskIndex: identity.taskIndex };
    if (identity.kind !== 'vm') return null;
    const vm = await vmInstanceById(db, identity.instanceId);
    if (!vm || vm.status === 'failed' || vm.status === 'terminated')
      throw new DomainError('TASK_GONE', `VM instance ${identity.instanceId} has ended: there is no task for this token`);
    return vm.task ? { jobId: vm.task.jobId, taskIndex: vm.task.taskIndex } : 'waiting';
  };

  const channel = (identity: AgentIdentity) => {
    const mine = async (agentId: string) => {
      const agent = await agentOf(agentId);
      if (agent.agentId !== agentIdOf(identity, agent.name)) throw new DomainError('NOT_YOUR_AGENT', 'this token did not register that agent');
      return agent;
    };
    const api: AgentChannel = {
      async register(offered): Promise<Registration> {
        const info = registeredInfo(identity, offered);
        const agentId = agentIdOf(identity, info.name);
        const resourceClasses = servedClasses(identity, info, builtIn, placedElsewhere);
        const r = await deps.commands.execute({
          stream: agentStream(agentId),
          decider: agentDecider,
          command: { type: 'register', agentId, info, resourceClasses },
          context: contextOf({ agentId, name: info.name }),
          target: agentTarget({ agentId, name: info.name }),
        });
        await touchAgent(db, agentId);
        if (r.position) await deps.projections.waitFor(r.position, 5000, ['jobs']);
        // an agent that starts again has lost whatever it ran before
        for (const t of await runningOnAgent(db, agentId)) await endTask(null, t, 'infrastructure_fail', `agent ${info.name} restarted while running it`);
        deps.board.notify();
        return { agentId, resourceClasses, heartbeatMs: deps.settings.heartbeatMs, leaseMs: deps.settings.leaseMs, maxTasks: info.maxTasks };
      },
      async claim(agentId, waitMs, signal) {
        const registered = await mine(agentId);
        const oneTask = identity.kind === 'task' || identity.kind === 'vm';
        // an agent registered before Nomad or the VM service placed some of its classes claims none of them now
        const agent = oneTask ? registered : { ...registered, resourceClasses: registered.resourceClasses.filter((rc) => !placedElsewhere(rc)) };
        const until = Date.now() + Math.min(Math.max(waitMs, 0), 30_000);
        for (;;) {
          if (signal?.aborted) return null;
          await touchAgent(db, agentId);
          const only = await onlyTaskOf(identity);
          // a prescaled VM's agent waits for the task its VM is given
          const got = only === 'waiting' ? 'none' : await oneAtATime(() => tryClaim(agent, only, signal));
          // a one-shot agent's token names one task: once that is not waiting, nothing will come
          if (only && only !== 'waiting' && got === 'none') {
            const task = await taskByRef(db, only.jobId, only.taskIndex);
            if (task?.status !== 'queued')
              throw new DomainError(
                'TASK_GONE',
                `task ${only.taskIndex} of job ${only.jobId} is ${task?.status ?? 'unknown'}: this token's task is no longer waiting`,
              );
          }
          if (got !== 'none' && got !== null) return got;
          const left = until - Date.now();
          if (left <= 0) return null;
          await deps.board.wait(Math.min(left, claimLookMs), signal);
        }
      },
      async heartbeat(agentId, running) {
        const agent = await mine(agentId);
        await touchAgent(db, agentId);
        const stop: TaskRef[] = [];
        for (const t of running) {
          const task = await taskByRef(db, t.jobId, t.taskIndex);
          if (!task || task.agentId !== agentId || task.status !== 'running' || task.cancelRequested) stop.push({ jobId: t.jobId, taskIndex: t.taskIndex });
        }
        // a task this agent claimed a lease ago and does not run was lost between its claim and its start
        const runs = new Set(running.map(taskKey));
        for (const t of await runningOnAgent(db, agentId)) {
          if (!runs.has(taskKey(t)) && t.startedAt && Date.now() - Date.parse(t.startedAt) > deps.settings.leaseMs) {
            await endTask(null, t, 'infrastructure_fail', `agent ${agent.name} does not run it: it was lost between its claim and its start`);
          }
        }
        return { stop };
      },
      async startStep(agentId, s: StepRef) {
        const agent = await mine(agentId);
        await held(agentId, s);
        await jobCommand(s.jobId, { type: 'startStep', taskIndex: s.taskIndex, agentId, stepIndex: s.stepIndex }, contextOf(agent));
      },
      async output(agentId, s: StepRef, text) {
        await mine(agentId);
        await held(agentId, s);
        const { kept, offset } = await deps.output.append(s, text);
        if (kept) deps.live.publish({ ...s, offset, text: kept });
      },
      async finishStep(agentId, end: StepEnd) {
        const agent = await mine(agentId);
        await held(agentId, end);
        const size = await deps.output.seal(end);
        await jobCommand(
          end.jobId,
          {
            type: 'finishStep',
            taskIndex: end.taskIndex,
            agentId,
            stepIndex: end.stepIndex,
            status: end.status,
            exitCode: end.exitCode,
            reason: end.reason,
            outputBytes: size.bytes,
            truncated: size.truncated,
          },
          contextOf(agent),
        );
      },
      async finishTask(agentId, end: TaskEnd) {
        const agent = await mine(agentId);
        await endTask(agent, end, end.status, end.reason);
      },
      async remoteDocker(agentId, s: StepRef) {
        await mine(agentId);
        await held(agentId, s);
        return deps.remoteEngine({ jobId: s.jobId, taskIndex: s.taskIndex });
      },
      storeArtifacts: async (agentId, s, tar) => files.storeArtifacts(deps, await mine(agentId), s, tar),
      storeTestResults: async (agentId, s, results) => files.storeTestResults(deps, await mine(agentId), s, results),
      cacheExists: async (agentId, s, key) => files.cacheExists(deps, await mine(agentId), s, key),
      saveCache: async (agentId, s, key, body) => files.saveCache(deps, await mine(agentId), s, key, body),
      findCache: async (agentId, s, keys) => files.findCache(deps, await mine(agentId), s, keys),
      readCache: async (agentId, s, id) => files.readCache(deps, await mine(agentId), s, id),
      persistWorkspace: async (agentId, s, tar) => files.persistWorkspace(deps, await mine(agentId), s, tar),
      workspaceLayers: async (agentId, s) => files.workspaceLayers(deps, await mine(agentId), s),
      readWorkspaceLayer: async (agentId, s, layerId) => files.readWorkspaceLayer(deps, await mine(agentId), s, layerId),
    };
    return api;
  };

  return {
    channel,
    /** Each agent's last heartbeat, and whether it was within the lease. */
    presence: () => agentPresence(db, deps.settings.leaseMs),
    /** Ends a task Gyre has given up on: its agent stopped answering, or it ran past its time. */
    endTask: (t: TaskRef, status: TaskResult, reason: string) => endTask(null, t, status, reason),
  };
};
export type Dispatch = ReturnType<typeof createDispatch>;

/** The same token and name give the same agent, so an agent that restarts is known again. */
export const agentIdOf = (identity: AgentIdentity, name: string): string => uuidFrom(`gyre agent\n${agentKey(identity)}\n${name}`);
const agentKey = (identity: AgentIdentity): string => {
  switch (identity.kind) {
    case 'token':
      return identity.tokenId;
    case 'local':
      return `local ${identity.serverId}`;
    case 'task':
      return `task ${identity.jobId}/${identity.taskIndex}`;
    case 'vm':
      return `vm ${identity.instanceId}`;
  }
};

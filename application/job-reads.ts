import type { AgentInfo } from '../domain/agents/protocol.ts';
import type { Size } from '../domain/scheduling/capacity.ts';
import { freeCapacity } from '../domain/scheduling/placement.ts';
import { queueReason, type AgentView } from '../domain/scheduling/queue-reason.ts';
import { allAgents, queuedJobIds, runningTaskLoads, taskCounts, tasksOfJob, type AgentRow, type JobRunRow, type RunningTaskLoad } from '../projections/jobs.ts';
import { jobById, type JobRow } from '../projections/pipelines.ts';
import { placementOfTask, type PlacementRow } from '../projections/nomad.ts';
import { type VmInstanceRow, vmInstanceOfTask } from '../projections/vm.ts';
import { ValidationError } from '../domain/errors.ts';
import type { Reads } from './dependencies.ts';

/** The job read side: the read models, and when each agent was last heard from (heartbeats are not events). */
export interface JobReads extends Reads {
  presence(): Promise<ReadonlyMap<string, { readonly lastSeenAt: string; readonly online: boolean }>>;
  /** When Nomad places some classes: which, and its nodes as last listed. */
  readonly nomad?: NomadCapacity;
}

/** A Nomad client node as the capacity view shows it. */
export interface NomadNodeView {
  readonly id: string;
  readonly name: string;
  readonly datacenter: string;
  readonly nodeClass: string;
  readonly status: string;
  readonly eligibility: string;
  readonly draining: boolean;
  readonly cpuMhz: number;
  readonly cpuCores: number;
  readonly memoryMb: number;
}

export interface NomadCapacity {
  /** The classes Nomad places, by name (the built-in classes GYRE_NOMAD_CLASSES matches). */
  readonly classes: ReadonlyArray<string>;
  /** The nodes that may run Gyre's jobs (in its datacenters and node class). */
  nodes(): ReadonlyArray<NomadNodeView>;
}

/** A node Nomad places new work on. */
export const nomadNodeUsable = (n: NomadNodeView) => n.status === 'ready' && n.eligibility === 'eligible' && !n.draining;

/** An agent as an operator sees it: what it offers, what it runs, what it has left, and whether it answers. */
export interface AgentState {
  readonly agent: AgentRow;
  readonly online: boolean;
  readonly lastSeenAt: string | null;
  readonly running: ReadonlyArray<RunningTaskLoad>;
  /** What is left for another task; nothing when it is at its task limit. */
  readonly free: Size;
  readonly view: AgentView;
}

const atLimit = (info: AgentInfo, running: number) => info.maxTasks !== null && running >= info.maxTasks;

/** Every registered agent with its load and presence, by name. */
export const agentStates = async (deps: JobReads): Promise<AgentState[]> => {
  const [agents, running, presence] = await Promise.all([allAgents(deps.db), runningTaskLoads(deps.db), deps.presence()]);
  return agents.map((agent) => {
    const mine = running.filter((t) => t.agentId === agent.agentId);
    const seen = presence.get(agent.agentId);
    const view: AgentView = {
      name: agent.name,
      resourceClasses: agent.resourceClasses,
      declined: agent.info.declined ?? [],
      online: seen?.online ?? false,
      capacity: agent.info.capacity,
      running: mine.map((t) => ({ cpus: t.cpus, memoryMb: t.memoryMb })),
      maxTasks: agent.info.maxTasks,
    };
    const free = atLimit(agent.info, mine.length) ? { cpus: 0, memoryMb: 0 } : freeCapacity(view);
    return {
      agent,
      online: view.online,
      lastSeenAt: seen?.lastSeenAt ?? null,
      running: mine,
      free: { cpus: Math.max(free.cpus, 0), memoryMb: Math.max(free.memoryMb, 0) },
      view,
    };
  });
};

/**
 * Why a job waits, in words, while a task of it is queued: over the agents heard from within their
 * lease and what they run. Null when nothing of it waits, or when an agent could take it now.
 */
export const whyQueued = async (deps: JobReads, run: JobRunRow): Promise<string | null> => {
  if (run.stoppedAt || run.canceled) return null;
  const waiting = (await tasksOfJob(deps.db, run.jobId)).find((t) => t.status === 'queued');
  if (!waiting) return null;
  const placed = await placementOfTask(deps.db, run.jobId, waiting.taskIndex);
  if (placed) return nomadWait(placed);
  if (deps.nomad?.classes.includes(run.resourceClass)) return 'waiting for Gyre to submit it to Nomad';
  const vm = await vmInstanceOfTask(deps.db, run.jobId, waiting.taskIndex, 'machine');
  if (vm) return vmWait(vm);
  const agents = await agentStates(deps);
  return queueReason(
    { resourceClass: run.resourceClass, size: { cpus: run.spec.resourceClass.cpus, memoryMb: run.spec.resourceClass.memoryMb } },
    agents.map((a) => a.view),
  );
};

/** Why a task Nomad places waits: what Nomad said, or how far its placement has come. */
const nomadWait = (p: PlacementRow): string => {
  if (p.reason) return p.reason;
  if (p.status === 'submitted') return `waiting for Gyre to register Nomad job ${p.nomadJobId}`;
  if (p.status === 'allocated') return `Nomad placed it on ${p.nodeName ?? 'a node'}: its one-shot agent is starting`;
  return `waiting for Nomad to place Nomad job ${p.nomadJobId}`;
};

/** Why a task the VM service gives a VM waits: how far its VM has come. */
const vmWait = (i: VmInstanceRow): string => {
  const vm = `its ${i.provider === 'AWS' ? 'EC2' : 'Compute Engine'} VM${i.cloudId ? ` ${i.cloudId}` : ''}`;
  if (i.status === 'requested') return `waiting for the VM service to start ${vm} (${i.machineType})`;
  if (i.status === 'started') return `${vm} is starting: waiting for its agent to register`;
  return `${vm} ${i.status}${i.reason ? `: ${i.reason}` : ''}`;
};

/** One resource class's queue, what runs in it, and the agents that serve it (online ones only) with the room they have. */
export interface ResourceClassLoad {
  readonly resourceClass: string;
  /** Tasks (one per parallelism slice) waiting. */
  readonly queued: number;
  readonly running: number;
  readonly agents: number;
  /** Summed over its agents; an agent serving several classes offers the same room to each. */
  readonly freeCpus: number;
  readonly freeMemoryMb: number;
  /** The Nomad nodes that may run it, when Nomad places it; null when agents serve it. */
  readonly nomadNodes: ReadonlyArray<NomadNodeView> | null;
}

/** Every resource class with queued or running work or an online agent, by name. */
export const resourceClassLoads = async (deps: JobReads): Promise<ResourceClassLoad[]> => {
  const [counts, agents] = await Promise.all([taskCounts(deps.db), agentStates(deps)]);
  const nomad = new Set(deps.nomad?.classes ?? []);
  const nodes = deps.nomad?.nodes() ?? [];
  const by = new Map<string, { -readonly [K in keyof ResourceClassLoad]: ResourceClassLoad[K] }>();
  const of = (resourceClass: string) => {
    const got = by.get(resourceClass) ?? {
      resourceClass,
      queued: 0,
      running: 0,
      agents: 0,
      freeCpus: 0,
      freeMemoryMb: 0,
      nomadNodes: nomad.has(resourceClass) ? nodes : null,
    };
    by.set(resourceClass, got);
    return got;
  };
  for (const rc of nomad) of(rc);
  for (const c of counts) Object.assign(of(c.resourceClass), { queued: c.queued, running: c.running });
  for (const a of agents.filter((x) => x.online)) {
    for (const rc of a.agent.resourceClasses) {
      const l = of(rc);
      l.agents += 1;
      l.freeCpus += a.free.cpus;
      l.freeMemoryMb += a.free.memoryMb;
    }
  }
  return [...by.values()].sort((a, b) => a.resourceClass.localeCompare(b.resourceClass));
};

/** The queue across every resource class: jobs with a task waiting, longest waiting first, at most `first` (1 to 100). */
export const queuedJobs = async (deps: JobReads, first: unknown): Promise<JobRow[]> => {
  const n = first ?? 50;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 100) throw new ValidationError('first must be a whole number from 1 to 100');
  const jobs = await Promise.all((await queuedJobIds(deps.db, n)).map((id) => jobById(deps.db, id)));
  return jobs.filter((j): j is JobRow => j !== undefined);
};

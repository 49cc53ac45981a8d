/**
 * A stand-in for HashiCorp Nomad's HTTP API on 127.0.0.1, for tests of Gyre's Nomad worker: a server
 * and clients in one process that place batch jobs on configured nodes and really run their raw_exec
 * tasks as child processes. Written from Nomad's API documentation (developer.hashicorp.com/nomad/api-docs,
 * cited per section as "api-docs/<page>") and the field names of the `api` Go package (api/jobs.go,
 * api/allocations.go, api/nodes.go, api/evaluations.go). Not Nomad: no restarts or reschedules of
 * failed tasks, the first node that fits wins (no bin-packing score), and only batch jobs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StandInNode {
  id: string;
  name: string;
  datacenter?: string;
  nodeClass?: string;
  meta?: Record<string, string>;
  cpuMhz: number;
  cores: number;
  memoryMb: number;
}
/** An ACL policy as Nomad's policy language has it (docs/other-specifications/acl-policy): namespace rules by label (`*` globs), node and agent rules. */
export interface TokenPolicy {
  management?: boolean;
  namespaces?: Record<string, { policy?: 'deny' | 'read' | 'write'; capabilities?: string[] }>;
  node?: 'deny' | 'read' | 'write';
  agent?: 'deny' | 'read' | 'write';
}
export interface NomadStandInOptions {
  nodes: StandInNode[];
  /** Secret IDs and their policies; without it ACLs are off, as on a Nomad whose `acl.enabled` is false. */
  tokens?: Record<string, TokenPolicy>;
  region?: string;
}
type Constraint = { LTarget?: string; RTarget?: string; Operand?: string };
interface TaskSpec {
  Name: string;
  Driver?: string;
  Config?: { command?: string; args?: string[] } | null;
  Env?: Record<string, string> | null;
  Meta?: Record<string, string> | null;
  Constraints?: Constraint[] | null;
  Resources?: { CPU?: number | null; Cores?: number | null; MemoryMB?: number | null } | null;
  /** Nanoseconds, as the API's time.Duration. */
  KillTimeout?: number | null;
}
type GroupSpec = { Name: string; Count?: number | null; Constraints?: Constraint[] | null; Tasks: TaskSpec[] };
interface JobSpec {
  ID: string;
  Type?: string;
  Priority?: number;
  Datacenters?: string[] | null;
  Constraints?: Constraint[] | null;
  TaskGroups: GroupSpec[];
  [field: string]: unknown;
}
interface Job {
  spec: JobSpec;
  namespace: string;
  version: number;
  stop: boolean;
  createIndex: number;
  modifyIndex: number;
  jobModifyIndex: number;
  submitTime: number;
}
interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage: string;
  Message: string;
  ExitCode: number;
  Signal: number;
  FailsTask: boolean;
  Details: Record<string, string>;
}
interface TaskState {
  State: 'pending' | 'running' | 'dead';
  Failed: boolean;
  Restarts: number;
  StartedAt: string | null;
  FinishedAt: string | null;
  Events: TaskEvent[];
}
type ClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost';
interface Alloc {
  ID: string;
  Namespace: string;
  EvalID: string;
  Name: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  JobType: string;
  JobVersion: number;
  TaskGroup: string;
  DesiredStatus: 'run' | 'stop';
  DesiredDescription: string;
  ClientStatus: ClientStatus;
  ClientDescription: string;
  TaskStates: Record<string, TaskState>;
  PreviousAllocation: string;
  NextAllocation: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}
interface Placed {
  alloc: Alloc;
  jobCreateIndex: number;
  group: GroupSpec;
  cpu: number;
  memory: number;
  cores: number[];
  /** Per task: MHz, MB, reserved core IDs. */
  tasks: Map<string, { cpu: number; memory: number; cores: number[] }>;
  processes: Map<string, ChildProcess>;
  dir: string;
}
type Metric = {
  NodesEvaluated: number;
  NodesFiltered: number;
  NodesInPool: number;
  NodesAvailable: Record<string, number>;
  ClassFiltered: Record<string, number> | null;
  ConstraintFiltered: Record<string, number> | null;
  NodesExhausted: number;
  ClassExhausted: Record<string, number> | null;
  DimensionExhausted: Record<string, number> | null;
  QuotaExhausted: null;
  ResourcesExhausted: Record<string, { CPU: number; MemoryMB: number }> | null;
  Scores: null;
  ScoreMetaData: null;
  AllocationTime: number;
  CoalescedFailures: number;
};
type Eval = Record<string, unknown> & { ID: string; Namespace: string; JobID: string; Status: string; ModifyIndex: number };
interface NodeState extends Required<StandInNode> {
  status: 'ready' | 'down';
  eligibility: 'eligible' | 'ineligible';
  drain: { Deadline: number; ForceDeadline: string; StartedAt: string } | null;
  lastDrain: Record<string, unknown> | null;
  createIndex: number;
  modifyIndex: number;
}
class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
type Reply = { index: number; body: unknown };

const nowNs = () => Date.now() * 1_000_000;
const glob = (pattern: string, value: string) => new RegExp(`^${pattern.replace(/[.+?^$()[\]{}|\\]/g, '\\$&').replaceAll('*', '.*')}$`).test(value);
const pick = <T extends object, K extends keyof T>(o: T, keys: K[]) => Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
const terminal = (a: Alloc) => a.ClientStatus === 'complete' || a.ClientStatus === 'failed' || a.ClientStatus === 'lost';
/** Go's time.ParseDuration for the `wait` parameter (api-docs: Blocking Queries): "10s", "5m", "1m30s", "250ms". */
const parseDuration = (text: string) => {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text) throw new HttpError(400, 'Invalid wait time');
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0);
};
/** The capabilities a coarse namespace policy stands for (docs/other-specifications/acl-policy, the table of namespace rules). */
const namespacePolicy: Record<string, string[]> = {
  deny: [],
  read: ['list-jobs', 'parse-job', 'read-job'],
  write: ['list-jobs', 'parse-job', 'read-job', 'submit-job', 'dispatch-job', 'read-logs', 'read-fs', 'alloc-exec', 'alloc-lifecycle'],
};

export const startNomadStandIn = async (options: NomadStandInOptions) => {
  const region = options.region ?? 'global';
  const root = mkdtempSync(join(tmpdir(), 'nomad-standin-'));
  let index = 1; // "On a new Nomad cluster the value of this index starts at 1" (api-docs: Blocking Queries)
  let waiters: Array<() => void> = [];
  const tables = { jobs: 1, allocs: 1, evals: 1, nodes: 1 };
  const nodes = new Map<string, NodeState>();
  const jobs = new Map<string, Job>(); // by namespace + "\0" + ID: jobs are kept per namespace
  const allocs = new Map<string, Placed>();
  const evals = new Map<string, Eval>();
  const log: Array<{ method: string; path: string; query: string; token: boolean }> = [];
  const control = { delayMs: 0, refuse: null as string | null, stopped: false };

  /** Every write takes the next index, and wakes the blocking queries to look again. */
  const bump = (...touched: Array<keyof typeof tables>) => {
    index++;
    for (const t of touched) tables[t] = index;
    const w = waiters;
    waiters = [];
    for (const wake of w) wake();
    return index;
  };
  const changed = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  const addNode = (n: StandInNode) => {
    const i = bump('nodes');
    nodes.set(n.id, {
      datacenter: 'dc1',
      nodeClass: '',
      meta: {},
      ...n,
      status: 'ready',
      eligibility: 'eligible',
      drain: null,
      lastDrain: null,
      createIndex: i,
      modifyIndex: i,
    });
    unblock();
  };
  const touchNode = (n: NodeState) => {
    n.modifyIndex = bump('nodes');
    unblock();
  };
  const nodeStub = (n: NodeState, resources: boolean) => ({
    Address: '127.0.0.1',
    ID: n.id,
    Datacenter: n.datacenter,
    Name: n.name,
    NodeClass: n.nodeClass,
    NodePool: 'default',
    Version: 'stand-in',
    Drain: n.drain !== null,
    SchedulingEligibility: n.eligibility,
    Status: n.status,
    StatusDescription: '',
    Drivers: { raw_exec: { Detected: true, Healthy: true, HealthDescription: 'Healthy', Attributes: { 'driver.raw_exec': '1' } } },
    ...(resources && {
      NodeResources: {
        Cpu: { CpuShares: n.cpuMhz, TotalCpuCores: n.cores, ReservableCpuCores: [...Array(n.cores).keys()] },
        Memory: { MemoryMB: n.memoryMb },
        Disk: { DiskMB: 0 },
        Networks: null,
        Devices: null,
      },
      ReservedResources: { Cpu: { CpuShares: 0 }, Memory: { MemoryMB: 0 }, Disk: { DiskMB: 0 }, Networks: { ReservedHostPorts: '' } },
    }),
    LastDrain: n.lastDrain,
    CreateIndex: n.createIndex,
    ModifyIndex: n.modifyIndex,
  });
  const nodeFull = (n: NodeState) => ({
    ...nodeStub(n, true),
    Attributes: { 'kernel.name': process.platform, 'driver.raw_exec': '1', 'cpu.numcores': String(n.cores) },
    Meta: n.meta,
    DrainStrategy: n.drain && { Deadline: n.drain.Deadline, IgnoreSystemJobs: false, ForceDeadline: n.drain.ForceDeadline, StartedAt: n.drain.StartedAt },
  });

  // --- the scheduler (docs/concepts/scheduling/placement: feasibility, then ranking; evaluations that cannot place are blocked) ---
  const resolve = (target: string, n: NodeState): string | undefined => {
    if (!target.startsWith('${')) return target;
    const fixed: Record<string, string> = {
      '${node.unique.id}': n.id,
      '${node.unique.name}': n.name,
      '${node.datacenter}': n.datacenter,
      '${node.class}': n.nodeClass,
      '${node.pool}': 'default',
    };
    if (target in fixed) return fixed[target];
    const meta = /^\$\{meta\.(.+)\}$/.exec(target);
    return meta ? n.meta[meta[1]!] : undefined;
  };
  const meets = (c: Constraint, n: NodeState) => {
    const l = resolve(c.LTarget ?? '', n);
    const r = resolve(c.RTarget ?? '', n);
    return ['!=', 'not'].includes(c.Operand ?? '=') ? l !== r : l !== undefined && r !== undefined && l === r;
  };
  const used = (nodeId: string) => {
    const u = { cpu: 0, memory: 0, cores: new Set<number>() };
    for (const p of allocs.values())
      if (p.alloc.NodeID === nodeId && !terminal(p.alloc)) {
        u.cpu += p.cpu;
        u.memory += p.memory;
        for (const c of p.cores) u.cores.add(c);
      }
    return u;
  };
  const emptyMetric = (): Metric => ({
    NodesEvaluated: 0,
    NodesFiltered: 0,
    NodesInPool: 0,
    NodesAvailable: {},
    ClassFiltered: null,
    ConstraintFiltered: null,
    NodesExhausted: 0,
    ClassExhausted: null,
    DimensionExhausted: null,
    QuotaExhausted: null,
    ResourcesExhausted: null,
    Scores: null,
    ScoreMetaData: null,
    AllocationTime: 0,
    CoalescedFailures: 0,
  });
  const count = (m: Record<string, number> | null, key: string) => ({ ...m, [key]: (m?.[key] ?? 0) + 1 });

  /** Finds a node for one allocation of a group, counting why the others would not do as Nomad's AllocMetric does (api/allocations.go). */
  const place = (job: Job, group: GroupSpec, metric: Metric) => {
    const dcs = job.spec.Datacenters?.length ? job.spec.Datacenters : ['*'];
    const pool = [...nodes.values()].filter((n) => dcs.some((dc) => glob(dc, n.datacenter)));
    metric.NodesInPool = pool.length;
    // only ready, eligible nodes are candidates at all; draining ones are ineligible (api-docs/nodes: Drain Node)
    const ready = pool.filter((n) => n.status === 'ready' && n.eligibility === 'eligible' && !n.drain);
    for (const dc of dcs) if (!dc.includes('*')) metric.NodesAvailable[dc] = 0;
    for (const n of ready) metric.NodesAvailable[n.datacenter] = (metric.NodesAvailable[n.datacenter] ?? 0) + 1;
    const constraints = [...(job.spec.Constraints ?? []), ...(group.Constraints ?? []), ...group.Tasks.flatMap((t) => t.Constraints ?? [])];
    for (const n of ready) {
      metric.NodesEvaluated++;
      const filter = (reason: string) => {
        metric.NodesFiltered++;
        if (n.nodeClass) metric.ClassFiltered = count(metric.ClassFiltered, n.nodeClass);
        metric.ConstraintFiltered = count(metric.ConstraintFiltered, reason);
      };
      const unmet = constraints.find((c) => !meets(c, n));
      if (unmet) {
        filter(`${unmet.LTarget} ${unmet.Operand ?? '='} ${unmet.RTarget}`); // Constraint.String() in nomad/structs
        continue;
      }
      if (group.Tasks.some((t) => t.Driver !== 'raw_exec')) {
        filter('missing drivers');
        continue;
      }
      const u = used(n.id);
      const mhzPerCore = n.cpuMhz / n.cores;
      const free = [...Array(n.cores).keys()].filter((c) => !u.cores.has(c));
      const tasks = new Map<string, { cpu: number; memory: number; cores: number[] }>();
      for (const t of group.Tasks) {
        const want = t.Resources?.Cores ?? 0;
        const cores = free.splice(0, want);
        const cpu = want ? want * mhzPerCore : (t.Resources?.CPU ?? 100); // api/resources.go DefaultResources: 100 MHz, 300 MB
        tasks.set(t.Name, { cpu, memory: t.Resources?.MemoryMB ?? 300, cores: cores.length === want ? cores : [] });
      }
      const need = [...tasks.values()].reduce((s, t) => ({ cpu: s.cpu + t.cpu, memory: s.memory + t.memory }), { cpu: 0, memory: 0 });
      const wantCores = group.Tasks.reduce((s, t) => s + (t.Resources?.Cores ?? 0), 0);
      // the order and names of ComparableResources.Superset in nomad/structs: cpu, cores, memory
      const dimension =
        control.refuse ??
        (u.cpu + need.cpu > n.cpuMhz ? 'cpu' : wantCores > n.cores - u.cores.size ? 'cores' : u.memory + need.memory > n.memoryMb ? 'memory' : null);
      if (dimension) {
        metric.NodesExhausted++;
        if (n.nodeClass) metric.ClassExhausted = count(metric.ClassExhausted, n.nodeClass);
        metric.DimensionExhausted = count(metric.DimensionExhausted, dimension);
        if (dimension === 'cpu' || dimension === 'memory')
          metric.ResourcesExhausted = Object.fromEntries(
            group.Tasks.map((t) => [
              t.Name,
              { CPU: dimension === 'cpu' ? tasks.get(t.Name)!.cpu : 0, MemoryMB: dimension === 'memory' ? tasks.get(t.Name)!.memory : 0 },
            ]),
          );
        continue;
      }
      return { node: n, tasks, cpu: need.cpu, memory: need.memory };
    }
    return null;
  };

  const evalRecord = (job: Job, triggeredBy: string, fields: Partial<Eval> = {}): Eval => {
    const i = bump('evals');
    const e: Eval = {
      ID: randomUUID(),
      Namespace: job.namespace,
      Priority: job.spec.Priority ?? 50,
      Type: job.spec.Type ?? 'batch',
      TriggeredBy: triggeredBy,
      JobID: job.spec.ID,
      JobModifyIndex: job.jobModifyIndex,
      NodeID: '',
      Status: 'complete',
      StatusDescription: '',
      NextEval: '',
      PreviousEval: '',
      BlockedEval: '',
      FailedTGAllocs: null,
      QueuedAllocations: {},
      SnapshotIndex: i,
      CreateIndex: i,
      ModifyIndex: i,
      CreateTime: nowNs(),
      ModifyTime: nowNs(),
      ...fields,
    };
    evals.set(e.ID, e);
    return e;
  };

  /**
   * Places what a job still lacks. Batch semantics (the scheduler's reconciler): a group wants Count
   * allocations of the current version that are running or finished; lost ones are replaced; allocations
   * of an older version still running are stopped and replaced. What cannot be placed leaves the
   * evaluation complete with FailedTGAllocs and one blocked evaluation for the job, which is tried
   * again whenever capacity frees (api-docs/evaluations: Read Evaluation, Status "blocked").
   */
  const schedule = (job: Job, e: Eval) => {
    const failed: Record<string, Metric> = {};
    const queued: Record<string, number> = {};
    for (const group of job.spec.TaskGroups) {
      const mine = [...allocs.values()].filter(
        (p) => p.alloc.Namespace === job.namespace && p.alloc.JobID === job.spec.ID && p.jobCreateIndex === job.createIndex && p.alloc.TaskGroup === group.Name,
      );
      for (const p of mine) if (p.alloc.JobVersion !== job.version && !terminal(p.alloc)) stopAlloc(p, 'alloc is being updated due to job update');
      const kept = mine.filter((p) => p.alloc.JobVersion === job.version && p.alloc.ClientStatus !== 'lost' && p.alloc.DesiredStatus === 'run');
      const replace = mine.filter((p) => p.alloc.ClientStatus === 'lost' && !p.alloc.NextAllocation);
      const want = job.stop ? 0 : Math.max(0, (group.Count ?? 1) - kept.length);
      let placed = 0;
      for (; placed < want; placed++) {
        const metric = emptyMetric();
        const started = process.hrtime.bigint();
        const fit = place(job, group, metric);
        if (!fit) {
          Object.assign(metric, { AllocationTime: Number(process.hrtime.bigint() - started), CoalescedFailures: want - placed - 1 });
          failed[group.Name] = metric;
          break;
        }
        createAlloc(job, group, e, fit, kept.length + placed, replace[placed]);
      }
      queued[group.Name] = want - placed;
    }
    e.QueuedAllocations = queued;
    const other = [...evals.values()].find((b) => b !== e && b.Status === 'blocked' && b.JobID === job.spec.ID && b.Namespace === job.namespace);
    if (Object.keys(failed).length) {
      if (e.Status === 'pending')
        Object.assign(e, { Status: 'blocked', FailedTGAllocs: failed }); // an unblocked evaluation that still cannot place is blocked again
      else {
        if (other) Object.assign(other, { FailedTGAllocs: failed, ModifyIndex: bump('evals'), ModifyTime: nowNs() });
        const b =
          other ??
          evalRecord(job, 'queued-allocs', {
            Status: 'blocked',
            StatusDescription: 'created to place remaining allocations',
            PreviousEval: e.ID,
            FailedTGAllocs: failed,
          });
        Object.assign(e, { BlockedEval: b.ID, FailedTGAllocs: failed });
      }
    } else if (other) Object.assign(other, { Status: 'canceled', StatusDescription: 'evaluation is no longer needed', ModifyIndex: bump('evals') });
    e.ModifyIndex = bump('evals');
    e.ModifyTime = nowNs();
  };
  /** Blocked evaluations are unblocked when capacity may have freed: an allocation ended, a node became ready or eligible. */
  let unblocking = false;
  const unblock = () => {
    if (unblocking) return;
    unblocking = true;
    setImmediate(retryBlocked);
  };
  const retryBlocked = () => {
    unblocking = false;
    if (control.stopped) return;
    for (const b of [...evals.values()]) {
      if (b.Status !== 'blocked') continue;
      const job = jobs.get(`${b.Namespace}\0${b.JobID}`);
      if (!job || job.stop) {
        Object.assign(b, { Status: 'canceled', ModifyIndex: bump('evals') });
        continue;
      }
      if (!job.spec.TaskGroups.every((g) => place(job, g, emptyMetric()))) continue;
      Object.assign(b, { Status: 'pending', FailedTGAllocs: null });
      schedule(job, b);
      if ((b.Status as string) === 'pending') Object.assign(b, { Status: 'complete', StatusDescription: '', ModifyIndex: bump('evals') });
    }
  };

  // --- the client: raw_exec runs the command with the task's environment in the allocation's task directory ---
  const event = (type: string, display: string, extra: Partial<TaskEvent> = {}): TaskEvent => ({
    Type: type,
    Time: nowNs(),
    DisplayMessage: display,
    Message: '',
    ExitCode: 0,
    Signal: 0,
    FailsTask: false,
    Details: {},
    ...extra,
  });
  const touchAlloc = (p: Placed) => {
    p.alloc.ModifyIndex = bump('allocs');
    p.alloc.ModifyTime = nowNs();
  };
  const createAlloc = (job: Job, group: GroupSpec, e: Eval, fit: NonNullable<ReturnType<typeof place>>, slot: number, previous?: Placed) => {
    const i = bump('allocs');
    const alloc: Alloc = {
      ID: randomUUID(),
      Namespace: job.namespace,
      EvalID: e.ID,
      Name: `${job.spec.ID}.${group.Name}[${slot}]`,
      NodeID: fit.node.id,
      NodeName: fit.node.name,
      JobID: job.spec.ID,
      JobType: job.spec.Type ?? 'batch',
      JobVersion: job.version,
      TaskGroup: group.Name,
      DesiredStatus: 'run',
      DesiredDescription: '',
      ClientStatus: 'pending',
      ClientDescription: '',
      TaskStates: {},
      PreviousAllocation: previous?.alloc.ID ?? '',
      NextAllocation: '',
      CreateIndex: i,
      ModifyIndex: i,
      CreateTime: nowNs(),
      ModifyTime: nowNs(),
    };
    const cores = [...fit.tasks.values()].flatMap((t) => t.cores);
    const dir = join(root, alloc.ID);
    const p: Placed = { alloc, jobCreateIndex: job.createIndex, group, cpu: fit.cpu, memory: fit.memory, cores, tasks: fit.tasks, processes: new Map(), dir };
    allocs.set(alloc.ID, p);
    if (previous) {
      previous.alloc.NextAllocation = alloc.ID;
      touchAlloc(previous);
    }
    setImmediate(() => startAlloc(job, p, fit.node));
  };

  const startAlloc = (job: Job, p: Placed, node: NodeState) => {
    if (control.stopped || p.alloc.DesiredStatus !== 'run') return;
    const a = p.alloc;
    mkdirSync(join(p.dir, 'alloc'), { recursive: true });
    for (const t of p.group.Tasks) {
      const res = p.tasks.get(t.Name)!;
      const taskDir = join(p.dir, t.Name);
      for (const d of ['local', 'secrets']) mkdirSync(join(taskDir, d), { recursive: true });
      // docs/reference/runtime-environment-settings: the host's environment (raw_exec), NOMAD_* and the task's env
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        NOMAD_ALLOC_DIR: join(p.dir, 'alloc'),
        NOMAD_TASK_DIR: join(taskDir, 'local'),
        NOMAD_SECRETS_DIR: join(taskDir, 'secrets'),
        NOMAD_MEMORY_LIMIT: String(res.memory),
        NOMAD_CPU_LIMIT: String(res.cpu),
        ...(res.cores.length && { NOMAD_CPU_CORES: res.cores.join(',') }),
        NOMAD_ALLOC_ID: a.ID,
        NOMAD_SHORT_ALLOC_ID: a.ID.slice(0, 8),
        NOMAD_ALLOC_NAME: a.Name,
        NOMAD_ALLOC_INDEX: /\[(\d+)\]$/.exec(a.Name)![1]!,
        NOMAD_TASK_NAME: t.Name,
        NOMAD_GROUP_NAME: a.TaskGroup,
        NOMAD_JOB_ID: a.JobID,
        NOMAD_JOB_NAME: String(job.spec.Name ?? a.JobID),
        NOMAD_JOB_PARENT_ID: '',
        NOMAD_DC: node.datacenter,
        NOMAD_NAMESPACE: a.Namespace,
        NOMAD_REGION: region,
        ...Object.fromEntries(Object.entries(t.Meta ?? {}).map(([k, v]) => [`NOMAD_META_${k.replace(/[^A-Za-z0-9_.]/g, '_')}`, v])),
      };
      Object.assign(env, t.Env ?? {});
      // args are interpolated before launch (api-docs raw_exec: "References to environment variables ... will be interpreted")
      const args = (t.Config?.args ?? []).map((s) => s.replace(/\$\{(NOMAD_[A-Z_]+|env\.[^}]+)\}/g, (m, k: string) => env[k.replace(/^env\./, '')] ?? m));
      const state: TaskState = {
        State: 'pending',
        Failed: false,
        Restarts: 0,
        StartedAt: null,
        FinishedAt: null,
        Events: [event('Received', 'Task received by client'), event('Task Setup', 'Building Task Directory', { Message: 'Building Task Directory' })],
      };
      a.TaskStates[t.Name] = state;
      const finish = (failed: boolean, ...events: TaskEvent[]) => {
        if (state.State === 'dead') return;
        p.processes.delete(t.Name);
        Object.assign(state, { State: 'dead', Failed: failed, FinishedAt: new Date().toISOString() });
        state.Events.push(...events);
        if (failed && a.DesiredStatus === 'run') for (const [name, child] of p.processes) killTask(p, name, child, `Task's sibling "${t.Name}" failed`);
        settle(p);
      };
      if (!t.Config?.command) {
        finish(true, event('Driver Failure', 'failed to launch command: command is not set', { FailsTask: true }));
        continue;
      }
      const child = spawn(t.Config.command, args, { cwd: taskDir, env, detached: true, stdio: 'ignore' });
      p.processes.set(t.Name, child);
      child.on('error', (err) => finish(true, event('Driver Failure', `failed to launch command with executor: ${err.message}`, { FailsTask: true })));
      child.on('spawn', () => {
        Object.assign(state, { State: 'running', StartedAt: new Date().toISOString() });
        state.Events.push(event('Started', 'Task started by client'));
        if (a.ClientStatus === 'pending') a.ClientStatus = 'running';
        touchAlloc(p);
      });
      child.on('exit', (code, signal) => {
        if (a.ClientStatus === 'lost') return;
        if (killing.has(child)) return finish(false, event('Killed', 'Task successfully killed'));
        const exitCode = code ?? 128;
        const sig = signal ? (({ SIGTERM: 15, SIGKILL: 9, SIGINT: 2 } as Record<string, number>)[signal] ?? 1) : 0;
        const display = `Exit Code: ${exitCode}${sig ? `, Signal: ${sig}` : ''}`;
        const terminated = event('Terminated', display, { ExitCode: exitCode, Signal: sig });
        if (exitCode === 0 && !sig) return finish(false, terminated);
        // the stand-in never restarts a task, as a restart block with attempts = 0 and mode "fail" would have it
        finish(true, terminated, event('Not Restarting', 'Policy allows no restarts', { FailsTask: true }));
      });
    }
    touchAlloc(p);
  };
  const killing = new WeakSet<ChildProcess>();
  /** Nomad sends the kill signal (SIGINT for raw_exec), waits the task's kill_timeout (5 s by default), then SIGKILL; here to the task's process group. */
  const killTask = (p: Placed, name: string, child: ChildProcess, reason?: string) => {
    if (killing.has(child)) return;
    killing.add(child);
    const spec = p.group.Tasks.find((t) => t.Name === name);
    const timeoutMs = (spec?.KillTimeout ?? 5e9) / 1e6;
    p.alloc.TaskStates[name]?.Events.push(
      event('Killing', reason ?? `Sent interrupt. Waiting ${timeoutMs / 1000}s before force killing`, { Details: { kill_timeout: `${timeoutMs / 1000}s` } }),
    );
    signalGroup(child, 'SIGINT');
    setTimeout(() => signalGroup(child, 'SIGKILL'), timeoutMs).unref();
  };
  // the whole group, even when its leader has exited: a shell's background children outlive it, and ignore SIGINT
  const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
    if (!child.pid) return;
    try {
      process.kill(-child.pid, signal);
    } catch {}
  };
  /** The allocation's client status follows its tasks: running while one runs, failed if one failed, else complete. */
  const settle = (p: Placed) => {
    const states = Object.values(p.alloc.TaskStates);
    if (p.alloc.ClientStatus === 'lost' || states.length < p.group.Tasks.length || states.some((s) => s.State !== 'dead')) return touchAlloc(p);
    p.alloc.ClientStatus = states.some((s) => s.Failed) ? 'failed' : 'complete';
    touchAlloc(p);
    const job = jobs.get(`${p.alloc.Namespace}\0${p.alloc.JobID}`);
    if (job) job.modifyIndex = bump('jobs'); // the job's Status (running, dead) changed with it
    drainDone(p.alloc.NodeID);
    unblock();
  };
  const stopAlloc = (p: Placed, description: string) => {
    if (p.alloc.DesiredStatus === 'stop') return;
    Object.assign(p.alloc, { DesiredStatus: 'stop', DesiredDescription: description });
    if (p.processes.size === 0 && !terminal(p.alloc)) {
      // not started yet: nothing to kill
      for (const t of p.group.Tasks)
        p.alloc.TaskStates[t.Name] ??= { State: 'dead', Failed: false, Restarts: 0, StartedAt: null, FinishedAt: null, Events: [] };
      for (const s of Object.values(p.alloc.TaskStates)) s.State = 'dead';
      return settle(p);
    }
    for (const [name, child] of p.processes) killTask(p, name, child);
    touchAlloc(p);
  };
  const loseAlloc = (p: Placed) => {
    for (const child of p.processes.values()) signalGroup(child, 'SIGKILL');
    p.processes.clear();
    Object.assign(p.alloc, { ClientStatus: 'lost', DesiredStatus: 'stop', DesiredDescription: 'alloc is lost since its node is down' });
    touchAlloc(p);
    const job = jobs.get(`${p.alloc.Namespace}\0${p.alloc.JobID}`);
    if (job && !job.stop) schedule(job, evalRecord(job, 'node-update', { NodeID: p.alloc.NodeID }));
    drainDone(p.alloc.NodeID);
    unblock();
  };
  /** A drain is done when no allocation on the node is still running; the node stays ineligible (api-docs/nodes: Drain Node). */
  const drainDone = (nodeId: string) => {
    const n = nodes.get(nodeId);
    if (!n?.drain || [...allocs.values()].some((p) => p.alloc.NodeID === nodeId && !terminal(p.alloc))) return;
    n.lastDrain = { StartedAt: n.drain.StartedAt, UpdatedAt: new Date().toISOString(), Status: 'complete', Meta: null };
    n.drain = null;
    touchNode(n);
  };

  // --- ACLs (api-docs: Authentication; docs/other-specifications/acl-policy) ---
  const authorize = (req: IncomingMessage, need: { namespace?: string; capability?: string; node?: 'read' | 'write'; agent?: 'read' }) => {
    if (!options.tokens) return;
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const secret = (req.headers['x-nomad-token'] as string | undefined) ?? bearer;
    // no token is the anonymous token, which has no policy here; an unknown one is "ACL token not found" (command/agent/http.go)
    const policy = secret === undefined ? {} : options.tokens[secret];
    if (!policy) throw new HttpError(403, 'ACL token not found');
    if (policy.management) return;
    const level = { deny: 0, read: 1, write: 2 };
    if (need.node && level[policy.node ?? 'deny'] >= level[need.node]) return;
    if (need.agent && level[policy.agent ?? 'deny'] >= level[need.agent]) return;
    if (need.capability) {
      const rules = Object.entries(policy.namespaces ?? {}).filter(([label]) => glob(label, need.namespace ?? 'default'));
      // an exact label wins over a glob (acl-policy: "the closest match")
      const rule = (rules.find(([label]) => label === need.namespace) ?? rules.sort((a, b) => b[0].length - a[0].length)[0])?.[1];
      const caps = rule ? [...namespacePolicy[rule.policy ?? 'deny']!, ...(rule.capabilities ?? [])] : [];
      if (!caps.includes('deny') && caps.includes(need.capability)) return;
    }
    throw new HttpError(403, 'Permission denied');
  };

  // --- HTTP ---
  const jobKey = (ns: string, id: string) => `${ns}\0${id}`;
  const jobStatus = (job: Job) => {
    const mine = [...allocs.values()].filter(
      (p) => p.alloc.Namespace === job.namespace && p.alloc.JobID === job.spec.ID && p.jobCreateIndex === job.createIndex,
    );
    if (mine.some((p) => !terminal(p.alloc))) return 'running';
    if (job.stop) return 'dead';
    const blocked = [...evals.values()].some((e) => e.Status === 'blocked' && e.JobID === job.spec.ID && e.Namespace === job.namespace);
    return blocked || mine.length === 0 ? 'pending' : 'dead';
  };
  const jobBody = (job: Job) => ({
    ...job.spec,
    Name: job.spec.Name ?? job.spec.ID,
    Namespace: job.namespace,
    Region: region,
    Type: job.spec.Type ?? 'batch',
    Priority: job.spec.Priority ?? 50,
    Datacenters: job.spec.Datacenters?.length ? job.spec.Datacenters : ['*'],
    Stop: job.stop,
    Status: jobStatus(job),
    StatusDescription: '',
    Version: job.version,
    SubmitTime: job.submitTime,
    CreateIndex: job.createIndex,
    ModifyIndex: job.modifyIndex,
    JobModifyIndex: job.jobModifyIndex,
  });
  const register = (req: IncomingMessage, url: URL, body: { Job?: JobSpec }, pathId?: string): Reply => {
    const spec = body.Job;
    if (!spec) throw new HttpError(400, 'Job must be specified');
    if (!spec.ID) throw new HttpError(400, "Job ID hasn't been provided");
    if (pathId !== undefined && pathId !== spec.ID) throw new HttpError(400, 'Job ID does not match name');
    if ((spec.Type ?? 'service') !== 'batch') throw new HttpError(400, 'the Nomad stand-in runs batch jobs only');
    for (const c of [
      ...(spec.Constraints ?? []),
      ...spec.TaskGroups.flatMap((g) => [...(g.Constraints ?? []), ...g.Tasks.flatMap((t) => t.Constraints ?? [])]),
    ])
      if (!['=', '==', 'is', '!=', 'not', undefined, ''].includes(c.Operand))
        throw new HttpError(400, `the Nomad stand-in does not evaluate the operand ${c.Operand}`);
    // the namespace: ?namespace= first, then the job's own, then "default" (command/agent/job_endpoint.go namespaceForJob)
    const namespace = url.searchParams.get('namespace') || (spec.Namespace as string | undefined) || 'default';
    authorize(req, { namespace, capability: 'submit-job' });
    const key = jobKey(namespace, spec.ID);
    const old = jobs.get(key);
    const same = old && !old.stop && JSON.stringify(old.spec) === JSON.stringify(spec);
    const i = bump('jobs');
    // registering an ID again updates that job; an unchanged spec is no new version (api-docs/jobs: Create Job, Update Existing Job)
    const job: Job = old ?? { spec, namespace, version: -1, stop: false, createIndex: i, modifyIndex: i, jobModifyIndex: i, submitTime: nowNs() };
    if (!same) Object.assign(job, { spec, version: job.version + 1, stop: false, jobModifyIndex: i, submitTime: nowNs() });
    job.modifyIndex = i;
    jobs.set(key, job);
    const e = evalRecord(job, 'job-register');
    schedule(job, e);
    return {
      index: e.ModifyIndex,
      body: {
        EvalID: e.ID,
        EvalCreateIndex: e.CreateIndex,
        JobModifyIndex: job.jobModifyIndex,
        Warnings: '',
        Index: e.ModifyIndex,
        LastContact: 0,
        KnownLeader: false,
      },
    };
  };
  const deregister = (job: Job, purge: boolean): Reply => {
    job.stop = true;
    job.jobModifyIndex = job.modifyIndex = bump('jobs');
    for (const p of allocs.values())
      if (p.alloc.JobID === job.spec.ID && p.alloc.Namespace === job.namespace && !terminal(p.alloc))
        stopAlloc(p, 'alloc is being stopped because the job was stopped');
    const e = evalRecord(job, 'job-deregister');
    schedule(job, e);
    if (purge) jobs.delete(jobKey(job.namespace, job.spec.ID));
    bump('jobs');
    return {
      index: e.ModifyIndex,
      body: { EvalID: e.ID, EvalCreateIndex: e.CreateIndex, JobModifyIndex: job.jobModifyIndex, Index: e.ModifyIndex, LastContact: 0, KnownLeader: false },
    };
  };
  const maxIndex = (xs: number[], table: number) => (xs.length ? Math.max(...xs) : table);
  const allocStub = (p: Placed) => p.alloc;
  const allocFull = (p: Placed) => {
    const job = jobs.get(jobKey(p.alloc.Namespace, p.alloc.JobID));
    return {
      ...p.alloc,
      Job: job ? jobBody(job) : null,
      AllocatedResources: {
        Tasks: Object.fromEntries(
          [...p.tasks].map(([name, r]) => [name, { Cpu: { CpuShares: r.cpu, ReservedCores: r.cores }, Memory: { MemoryMB: r.memory } }]),
        ),
        Shared: { DiskMB: 0 },
      },
      Metrics: null,
    };
  };

  /** Routes a request to a read (answered through the blocking-query loop) or a write (answered at once). */
  const route = (req: IncomingMessage, url: URL, body: unknown): Reply | (() => Reply) => {
    const m = req.method ?? 'GET';
    const path = url.pathname;
    const ns = url.searchParams.get('namespace') || 'default';
    const q = (re: RegExp) => re.exec(path)?.slice(1).map(decodeURIComponent);
    const jobOf = (id: string) => {
      const job = jobs.get(jobKey(ns, id));
      if (!job) throw new HttpError(404, 'job not found');
      return job;
    };
    const nodeOf = (id: string) => {
      const n = nodes.get(id);
      if (!n) throw new HttpError(404, 'node not found');
      return n;
    };
    if (path === '/v1/status/leader' && m === 'GET') return { index, body: '127.0.0.1:4647' };
    if (path === '/v1/agent/self' && m === 'GET') {
      authorize(req, { agent: 'read' });
      return {
        index,
        body: {
          config: { Region: region, Datacenter: 'dc1', Version: { Version: 'stand-in' } },
          member: { Name: 'nomad-standin', Status: 'alive', Tags: { region } },
          stats: {},
        },
      };
    }
    if (path === '/v1/jobs' && (m === 'PUT' || m === 'POST')) return register(req, url, body as { Job?: JobSpec });
    if (path === '/v1/jobs' && m === 'GET') {
      authorize(req, { namespace: ns, capability: 'list-jobs' });
      return () => ({
        index: tables.jobs,
        body: [...jobs.values()]
          .filter((j) => ns === '*' || j.namespace === ns)
          .map((j) => {
            const b = jobBody(j);
            return {
              ...pick(b, ['ID', 'Name', 'Namespace', 'Datacenters', 'Type', 'Priority', 'Stop', 'Status', 'StatusDescription']),
              ...pick(b, ['CreateIndex', 'ModifyIndex', 'JobModifyIndex', 'SubmitTime']),
              ParentID: '',
              Periodic: false,
              ParameterizedJob: false,
              JobSummary: null,
            };
          }),
      });
    }
    let p = q(/^\/v1\/job\/([^/]+)$/);
    if (p && (m === 'PUT' || m === 'POST')) return register(req, url, body as { Job?: JobSpec }, p[0]);
    if (p && m === 'DELETE') {
      authorize(req, { namespace: ns, capability: 'submit-job' });
      return deregister(jobOf(p[0]!), ['true', '1'].includes(url.searchParams.get('purge') ?? ''));
    }
    if (p && m === 'GET') {
      authorize(req, { namespace: ns, capability: 'read-job' });
      const id = p[0]!;
      return () => {
        const job = jobOf(id);
        return { index: job.modifyIndex, body: jobBody(job) };
      };
    }
    p = q(/^\/v1\/job\/([^/]+)\/allocations$/);
    if (p && m === 'GET') {
      authorize(req, { namespace: ns, capability: 'read-job' });
      const id = p[0]!;
      const all = url.searchParams.get('all') === 'true';
      return () => {
        const job = jobs.get(jobKey(ns, id));
        // allocations of an earlier job with the same ID only with ?all=true (api-docs/jobs: List Job Allocations)
        const list = [...allocs.values()].filter(
          (a) => a.alloc.Namespace === ns && a.alloc.JobID === id && (all || !job || a.jobCreateIndex === job.createIndex),
        );
        return {
          index: maxIndex(
            list.map((a) => a.alloc.ModifyIndex),
            tables.allocs,
          ),
          body: list.map(allocStub),
        };
      };
    }
    p = q(/^\/v1\/job\/([^/]+)\/evaluations$/);
    if (p && m === 'GET') {
      authorize(req, { namespace: ns, capability: 'read-job' });
      const id = p[0]!;
      return () => {
        const list = [...evals.values()].filter((e) => e.Namespace === ns && e.JobID === id);
        return {
          index: maxIndex(
            list.map((e) => e.ModifyIndex),
            tables.evals,
          ),
          body: list,
        };
      };
    }
    p = q(/^\/v1\/evaluation\/([^/]+)$/);
    if (p && m === 'GET') {
      const e = evals.get(p[0]!);
      if (!e) throw new HttpError(404, 'eval not found');
      authorize(req, { namespace: e.Namespace, capability: 'read-job' });
      return () => ({ index: e.ModifyIndex, body: e });
    }
    if (path === '/v1/allocations' && m === 'GET') {
      authorize(req, { namespace: ns, capability: 'read-job' });
      return () => ({ index: tables.allocs, body: [...allocs.values()].filter((a) => ns === '*' || a.alloc.Namespace === ns).map(allocStub) });
    }
    p = q(/^\/v1\/allocation\/([^/]+)$/);
    if (p && m === 'GET') {
      const a = allocs.get(p[0]!);
      if (!a) throw new HttpError(404, 'alloc not found');
      authorize(req, { namespace: a.alloc.Namespace, capability: 'read-job' });
      return () => ({ index: a.alloc.ModifyIndex, body: allocFull(a) });
    }
    if (path === '/v1/nodes' && m === 'GET') {
      authorize(req, { node: 'read' });
      const resources = url.searchParams.get('resources') === 'true';
      return () => ({ index: tables.nodes, body: [...nodes.values()].map((n) => nodeStub(n, resources)) });
    }
    p = q(/^\/v1\/node\/([^/]+)$/);
    if (p && m === 'GET') {
      authorize(req, { node: 'read' });
      const n = nodeOf(p[0]!);
      return () => ({ index: n.modifyIndex, body: nodeFull(n) });
    }
    p = q(/^\/v1\/node\/([^/]+)\/eligibility$/);
    if (p && (m === 'POST' || m === 'PUT')) {
      authorize(req, { node: 'write' });
      const n = nodeOf(p[0]!);
      const wanted = (body as { Eligibility?: string }).Eligibility;
      // the RPC's errors, which the HTTP layer answers with 500 (nomad/node_endpoint.go)
      if (wanted !== 'eligible' && wanted !== 'ineligible') throw new HttpError(500, `invalid scheduling eligibility "${wanted}"`);
      if (wanted === 'eligible' && n.drain) throw new HttpError(500, "can not set node's scheduling eligibility to eligible while it is draining");
      n.eligibility = wanted;
      touchNode(n);
      return { index: n.modifyIndex, body: { EvalCreateIndex: 0, EvalIDs: null, Index: n.modifyIndex, NodeModifyIndex: n.modifyIndex } };
    }
    p = q(/^\/v1\/node\/([^/]+)\/drain$/);
    if (p && (m === 'POST' || m === 'PUT')) {
      authorize(req, { node: 'write' });
      const n = nodeOf(p[0]!);
      const { DrainSpec, MarkEligible } = body as { DrainSpec?: { Deadline: number } | null; MarkEligible?: boolean };
      if (DrainSpec) drainNode(n, DrainSpec.Deadline);
      else {
        n.drain = null;
        if (MarkEligible) n.eligibility = 'eligible';
        touchNode(n);
      }
      return { index: n.modifyIndex, body: { EvalCreateIndex: 0, EvalIDs: null, Index: n.modifyIndex, NodeModifyIndex: n.modifyIndex } };
    }
    throw new HttpError(404, `Invalid URL path or method: ${m} ${path}`);
  };
  /** Deadline in nanoseconds: below zero forces the drain now, zero waits for the allocations forever, else they are stopped when it passes. */
  const drainNode = (n: NodeState, deadlineNs: number) => {
    const forceAt = deadlineNs > 0 ? Date.now() + deadlineNs / 1e6 : Date.now();
    n.drain = { Deadline: deadlineNs, ForceDeadline: new Date(deadlineNs === 0 ? 0 : forceAt).toISOString(), StartedAt: new Date().toISOString() };
    n.eligibility = 'ineligible';
    touchNode(n);
    const force = () => {
      for (const p of allocs.values())
        if (p.alloc.NodeID === n.id && !terminal(p.alloc)) {
          stopAlloc(p, 'alloc is being migrated');
          const job = jobs.get(jobKey(p.alloc.Namespace, p.alloc.JobID));
          if (job && !job.stop) schedule(job, evalRecord(job, 'node-drain', { NodeID: n.id }));
        }
    };
    if (deadlineNs < 0) force();
    else if (deadlineNs > 0) setTimeout(() => n.drain && force(), deadlineNs / 1e6).unref();
    drainDone(n.id);
  };

  const send = (res: ServerResponse, status: number, reply: Reply | string) => {
    const headers = { 'X-Nomad-Index': String(typeof reply === 'string' ? index : reply.index), 'X-Nomad-KnownLeader': 'true', 'X-Nomad-LastContact': '0' };
    // errors are plain text, as command/agent/http.go writes them
    if (typeof reply === 'string') return res.writeHead(status, { ...headers, 'content-type': 'text/plain' }).end(reply);
    res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://nomad');
    log.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search, token: Boolean(req.headers['x-nomad-token'] ?? req.headers.authorization) });
    try {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      if (control.delayMs) await new Promise((r) => setTimeout(r, control.delayMs));
      const wantedRegion = url.searchParams.get('region');
      if (wantedRegion && wantedRegion !== region) throw new HttpError(500, 'No path to region');
      let body: unknown = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        throw new HttpError(400, 'Unable to decode body');
      }
      const routed = route(req, url, body);
      if (typeof routed !== 'function') return send(res, 200, routed);
      // a blocking query holds until the resource's index passes ?index or ?wait (5 minutes by default, at most 10, plus up to wait/16) ends
      const min = Number(url.searchParams.get('index') ?? 0);
      if (!Number.isInteger(min) || min < 0) throw new HttpError(400, 'Invalid index');
      const waitText = url.searchParams.get('wait');
      const wait = Math.min(waitText ? parseDuration(waitText) : 300_000, 600_000);
      const deadline = Date.now() + wait + Math.random() * (wait / 16);
      let reply = routed();
      while (min > 0 && reply.index <= min && Date.now() < deadline && !control.stopped) {
        await changed(deadline - Date.now());
        reply = routed();
      }
      send(res, 200, reply);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.code, err.message);
      else send(res, 500, String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  for (const n of options.nodes) addNode(n);
  const { port } = server.address() as AddressInfo;

  const allocOf = (id: string) => {
    const p = allocs.get(id);
    if (!p) throw new Error(`no allocation ${id}`);
    return p;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    /** Every placement fails, every candidate exhausted in this dimension ("memory" unless named); `false` lifts it and blocked evaluations are tried again. */
    refusePlacement(dimension: string | false = 'memory') {
      control.refuse = dimension || null;
      if (!dimension) unblock();
    },
    /** As if the allocation's client stopped answering: its processes are killed, it is `lost`, and a replacement is placed (as Nomad does). */
    loseAllocation: (id: string) => loseAlloc(allocOf(id)),
    /** Every answer waits this long first. */
    slow(ms: number) {
      control.delayMs = ms;
    },
    setEligibility(nodeId: string, eligible: boolean) {
      const n = nodes.get(nodeId)!;
      n.eligibility = eligible ? 'eligible' : 'ineligible';
      touchNode(n);
    },
    /** A node that goes down loses its allocations. */
    setNodeStatus(nodeId: string, status: 'ready' | 'down') {
      const n = nodes.get(nodeId)!;
      n.status = status;
      touchNode(n);
      if (status === 'down') for (const p of allocs.values()) if (p.alloc.NodeID === nodeId && !terminal(p.alloc)) loseAlloc(p);
    },
    addNode,
    requests: () => [...log],
    jobs: () =>
      [...jobs.values()].map((j) => ({ namespace: j.namespace, id: j.spec.ID, version: j.version, stop: j.stop, status: jobStatus(j), spec: j.spec })),
    allocations: () => [...allocs.values()].map((p) => ({ ...p.alloc, pids: [...p.processes.values()].map((c) => c.pid!), dir: p.dir })),
    evaluations: () => [...evals.values()],
    /** Resolves at the next change of state, or after `ms`. */
    changed,
    async stop() {
      control.stopped = true;
      for (const p of allocs.values()) for (const child of p.processes.values()) signalGroup(child, 'SIGKILL');
      for (const wake of waiters) wake();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(root, { recursive: true, force: true });
    },
  };
};
export type NomadStandIn = Awaited<ReturnType<typeof startNomadStandIn>>;

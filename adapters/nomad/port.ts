/**
 * The parts of HashiCorp Nomad's HTTP API that Gyre uses (developer.hashicorp.com/nomad/api-docs), with
 * Nomad's own field names: register a batch job, follow its evaluations and allocations with blocking
 * queries, stop and purge it, and list the nodes. Every call is in Gyre's namespace and region.
 */

/** A constraint as Nomad's job specification has it (`${node.class} = build`, `${meta.size} = large`). */
export interface NomadConstraint {
  readonly LTarget: string;
  readonly RTarget: string;
  readonly Operand: string;
}

/** What `PUT /v1/jobs` takes: a batch job of one group of one raw_exec task. */
export interface NomadJob {
  readonly ID: string;
  readonly Name: string;
  readonly Type: 'batch';
  readonly Datacenters: ReadonlyArray<string>;
  readonly Constraints: ReadonlyArray<NomadConstraint>;
  readonly Meta: Readonly<Record<string, string>>;
  readonly TaskGroups: ReadonlyArray<{
    readonly Name: string;
    readonly Count: 1;
    readonly RestartPolicy: { readonly Attempts: 0; readonly Mode: 'fail' };
    readonly ReschedulePolicy: { readonly Attempts: 0; readonly Unlimited: false };
    readonly Tasks: ReadonlyArray<{
      readonly Name: string;
      readonly Driver: 'raw_exec';
      readonly Config: { readonly command: string; readonly args: ReadonlyArray<string> };
      readonly Env: Readonly<Record<string, string>>;
      /** CPU in MHz or Cores, never both; MemoryMB. */
      readonly Resources: { readonly CPU?: number; readonly Cores?: number; readonly MemoryMB: number };
      /** Nanoseconds. */
      readonly KillTimeout: number;
    }>;
  }>;
}

export interface NomadTaskEvent {
  readonly Type: string;
  readonly DisplayMessage?: string;
  readonly Message?: string;
  readonly ExitCode?: number;
}

/** An allocation as `GET /v1/job/:id/allocations` lists it. */
export interface NomadAllocation {
  readonly ID: string;
  readonly NodeID: string;
  readonly NodeName: string;
  readonly ClientStatus: 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown';
  readonly ClientDescription?: string;
  readonly DesiredStatus: string;
  readonly DesiredDescription?: string;
  readonly TaskStates?: Readonly<
    Record<string, { readonly State: string; readonly Failed: boolean; readonly Events?: ReadonlyArray<NomadTaskEvent> | null }>
  > | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** Why an evaluation could not place a group (`FailedTGAllocs`). */
export interface NomadAllocationMetric {
  readonly NodesEvaluated?: number;
  readonly NodesFiltered?: number;
  readonly NodesExhausted?: number;
  readonly NodesAvailable?: Readonly<Record<string, number>> | null;
  readonly ClassFiltered?: Readonly<Record<string, number>> | null;
  readonly ConstraintFiltered?: Readonly<Record<string, number>> | null;
  readonly ClassExhausted?: Readonly<Record<string, number>> | null;
  readonly DimensionExhausted?: Readonly<Record<string, number>> | null;
}

export interface NomadEvaluation {
  readonly ID: string;
  readonly Status: string;
  readonly StatusDescription?: string;
  readonly TriggeredBy?: string;
  readonly BlockedEval?: string;
  readonly FailedTGAllocs?: Readonly<Record<string, NomadAllocationMetric>> | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A node as `GET /v1/nodes?resources=true` lists it. */
export interface NomadNode {
  readonly ID: string;
  readonly Name: string;
  readonly Datacenter: string;
  readonly NodeClass: string;
  readonly Status: string;
  readonly SchedulingEligibility: 'eligible' | 'ineligible';
  readonly Drain: boolean;
  readonly NodeResources?: {
    readonly Cpu?: { readonly CpuShares?: number; readonly TotalCpuCores?: number } | null;
    readonly Memory?: { readonly MemoryMB?: number } | null;
  } | null;
}

/** A blocking query's answer: the value and the index to ask past next time. */
export interface Indexed<T> {
  readonly index: number;
  readonly value: T;
}

export interface BlockingOptions {
  /** Answer only once the resource's index passes this (0: at once). */
  readonly index?: number;
  /** The longest Nomad holds the query (ms). */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

export interface Nomad {
  /** Where the server is, as `GET /v1/status/leader` says (no token needed): that it answers at all. */
  leader(signal?: AbortSignal): Promise<string>;
  /** Registers (or, for the same ID, updates) a job; the evaluation it made. */
  register(job: NomadJob, signal?: AbortSignal): Promise<{ readonly evalId: string }>;
  /** Stops and purges a job; a job Nomad does not know is already gone. */
  stopAndPurge(jobId: string, signal?: AbortSignal): Promise<void>;
  allocations(jobId: string, options?: BlockingOptions): Promise<Indexed<ReadonlyArray<NomadAllocation>>>;
  evaluations(jobId: string, options?: BlockingOptions): Promise<Indexed<ReadonlyArray<NomadEvaluation>>>;
  nodes(options?: BlockingOptions): Promise<Indexed<ReadonlyArray<NomadNode>>>;
}

/** Nomad answered with an error: its status and its (plain text) message. */
export class NomadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'NomadError';
  }
}

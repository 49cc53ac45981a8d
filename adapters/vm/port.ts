/**
 * What Gyre's VM service asks of a cloud (EC2, Compute Engine, or one compatible with either): start
 * an instance that runs a start-up script, look at instances, and end them. Every instance Gyre
 * starts carries its mark (EC2 tag `ManagedBy=gyre-vm-service`; GCE label `managed-by: gyre-vm-service`)
 * so an operator's policy can be scoped by it.
 */

export type VmType = 'LINUX' | 'WINDOWS' | 'REMOTE_DOCKER';

/** The tag (EC2) and label (GCE) every instance and volume Gyre starts carries. */
export const managedByTag = { key: 'ManagedBy', value: 'gyre-vm-service' } as const;
export const managedByLabel = { key: 'managed-by', value: 'gyre-vm-service' } as const;

export interface VmLaunch {
  /**
   * Gyre's id of the instance: the EC2 `ClientToken` (so a retried RunInstances cannot start two) and
   * tag `gyre-instance`, the GCE instance name (a second insert of it is refused as existing, and taken
   * as the first's).
   */
  readonly name: string;
  readonly vmType: VmType;
  /** An AMI id (EC2) or an image URL or family (GCE). */
  readonly image: string;
  /** An EC2 instance type (`m5.large`) or a GCE machine type (`n2-standard-2`). */
  readonly machineType: string;
  /** Plain shell, run as root at first boot: EC2 user data, GCE `startup-script` metadata. */
  readonly startupScript: string;
}

export type VmState = 'pending' | 'running' | 'stopping' | 'terminated';

export interface VmInstance {
  /** The cloud's id: `i-…` on EC2; on GCE the instance name, which its API addresses instances by. */
  readonly cloudId: string;
  readonly name: string;
  readonly state: VmState;
  /** Its private address, once it has one. */
  readonly address: string | null;
}

/** A cloud's refusal, with its own code (`RequestLimitExceeded`, `InsufficientInstanceCapacity`, `QUOTA_EXCEEDED`, …) and message. */
export class VmCloudError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** Whether asking again later can help: throttling, capacity, a server error, no connection. */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'VmCloudError';
  }
}

export interface VmCloud {
  readonly provider: 'AWS' | 'GCP';
  /** Starts an instance (or finds the one this name already started) and returns it. Throws VmCloudError. */
  launch(launch: VmLaunch, signal?: AbortSignal): Promise<VmInstance>;
  /** The instance, or null once the cloud no longer knows it. */
  describe(cloudId: string, signal?: AbortSignal): Promise<VmInstance | null>;
  /** Terminates (EC2) or deletes (GCE) it; ending one already gone is not an error. */
  terminate(cloudId: string, signal?: AbortSignal): Promise<void>;
  /** Lets go of its connections, when it holds any. */
  close?(): Promise<void>;
}

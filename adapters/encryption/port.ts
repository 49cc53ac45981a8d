/**
 * Envelope encryption: each owner (a project, a context) has a data key of its own, kept wrapped by
 * the master key outside the event log, so destroying it makes that owner's old values unreadable
 * even from events. Sealed values are bound to their owner and label: they cannot be moved.
 * Sealing and opening are two objects, so that only job dispatch is ever handed the opener.
 */
export interface Vault {
  /** Seals a value under `owner`'s data key, creating the key at its first use. */
  seal(owner: string, label: string, value: string): Promise<string>;
  /** Destroys `owner`'s data key for good. */
  destroy(owner: string): Promise<void>;
  /** Re-wraps every data key under the current master key while seals and opens go on. */
  rotate(): Promise<Rotation>;
  /** The current master key's fingerprint. */
  keyId(): string;
}

export interface Opener {
  open(owner: string, label: string, sealed: string): Promise<string>;
}

export interface Rotation {
  readonly toKeyId: string;
  readonly fromKeyIds: ReadonlyArray<string>;
  readonly rewrapped: number;
}

export const projectOwner = (projectId: string) => `project:${projectId}`;
export const contextOwner = (contextId: string) => `context:${contextId}`;
/** A person's own secrets: the GitHub OAuth token of their last sign-in. */
export const userOwner = (userId: string) => `user:${userId}`;

import { GyreError } from '../../domain/errors.ts';

/**
 * The repository could not be read (gone, no such branch, no access): the pipeline cannot start.
 * `reason`: `ref-not-found` when git read the repository and the branch, tag, pull request or revision
 * asked for is not in it (trying again will not find it); `unavailable` when git could not reach or
 * read the repository at all (a host down or timing out may answer later); `too-large` when its mirror
 * or checkout outgrew a quota. Users see the same code and status either way. The message never says what git
 * met on the network (a refused connection tells an open port from a closed one): `detail` holds git's
 * own line, for admins and the server's log.
 */
export class GitError extends GyreError {
  constructor(
    message: string,
    readonly reason: 'ref-not-found' | 'unavailable' | 'too-large' = 'unavailable',
    readonly detail: string | null = null,
  ) {
    super(message, 'GIT_FAILED', 422);
  }
}

/**
 * How much git may take: bytes per repository (a mirror, or a job's checkout), bytes of all mirrors
 * together, and fetches at once (mirrors and checkouts alike).
 */
export interface GitLimits {
  readonly mirrorQuotaBytes: number;
  readonly mirrorsQuotaBytes: number;
  readonly fetchConcurrency: number;
}

/** What a pipeline reads of a repository at one revision. */
export interface Checkout {
  readonly revision: string;
  /** `.circleci/config.yml` at that revision, or null when the revision has none or it is too large to read. */
  readonly config: string | null;
  /** The config's size (bytes) when it is larger than `maxConfigBytes`, and so left unread. */
  readonly configTooLarge?: number;
  readonly subject: string;
  readonly body: string;
}

export interface Git {
  /**
   * Resolves a branch, tag or commit of the repository at `url` and reads the config there. With
   * `pullRequest`, the head is GitHub's `refs/pull/<n>/head` (where a fork's commits are), not a branch.
   * A config larger than `maxConfigBytes` is not read.
   */
  read(
    url: string,
    ref: { branch?: string | null; tag?: string | null; revision?: string | null; pullRequest?: number | null },
    options?: { maxConfigBytes?: number },
  ): Promise<Checkout>;
  /**
   * Writes the repository's files at `revision` into `directory` (a job's checkout step), with its
   * history; with `pullRequest`, also fetches `refs/pull/<n>/head` (as `origin/pull/<n>`), so a fork's revision is there.
   * `directory` is emptied first; a checkout that fails (one larger than the quota among them) removes it.
   */
  checkout(url: string, revision: string, directory: string, options?: { pullRequest?: number | null }): Promise<void>;
}

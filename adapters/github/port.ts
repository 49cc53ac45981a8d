import type { GitHubRepoRef } from '../../domain/projects/github-repo.ts';

/** What Gyre reads of a person from GitHub or GitHub Enterprise, with the OAuth token they granted. */
export interface GitHubIdentity {
  readonly id: number;
  readonly login: string;
  readonly name: string;
  /** Logins of the organizations they belong to. */
  readonly orgs: ReadonlyArray<string>;
  /** Their teams, as `org/team-slug`: the security groups contexts are restricted to. */
  readonly teams: ReadonlyArray<string>;
}

/** A commit status as GitHub takes it (`POST /repos/{owner}/{repo}/statuses/{sha}`). */
export interface CommitStatus {
  readonly state: 'pending' | 'success' | 'failure' | 'error';
  readonly context: string;
  /** What happened; GitHub keeps 140 characters, and the adapter sends no more. */
  readonly description: string;
  readonly targetUrl: string;
}

export interface GitHub {
  identity(accessToken: string): Promise<GitHubIdentity>;
  /** Registers a repository webhook (`POST /repos/{owner}/{repo}/hooks`); answers its id. */
  createHook(accessToken: string, repo: GitHubRepoRef, hook: { url: string; secret: string; events: ReadonlyArray<string> }): Promise<{ id: number }>;
  /** Removes a repository webhook; one GitHub no longer has (404) counts as removed. */
  deleteHook(accessToken: string, repo: GitHubRepoRef, hookId: number): Promise<void>;
  createStatus(accessToken: string, repo: GitHubRepoRef, sha: string, status: CommitStatus): Promise<void>;
}

/** GitHub answered with an error status: `status` is GitHub's (401, 403, 404, 422, 5xx). */
export class GitHubRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GitHubRefused';
  }
}

/**
 * GitHub is rate-limiting (403 with `x-ratelimit-remaining: 0`, 429/403 with `retry-after`, or a
 * secondary rate limit saying so in its message): try again at `retryAt` (epoch ms).
 */
export class GitHubRateLimited extends Error {
  constructor(readonly retryAt: number) {
    super(`GitHub is rate-limiting: retry at ${new Date(retryAt).toISOString()}`);
    this.name = 'GitHubRateLimited';
  }
}

/**
 * When a refusal says to retry, from its headers as GitHub's docs describe them: `retry-after`
 * (seconds), else `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds), else a
 * minute for a secondary rate limit (a 429, or a 403 whose `message` says so: GitHub's docs say to
 * "wait for at least one minute"); undefined when the answer is not a rate limit.
 */
export const rateLimitRetryAt = (
  status: number,
  headers: Readonly<Record<string, string | number | undefined>>,
  now: number,
  message = '',
): number | undefined => {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = Number(headers['retry-after']);
  if (headers['retry-after'] !== undefined && Number.isFinite(retryAfter)) return now + Math.max(0, retryAfter) * 1000;
  const reset = Number(headers['x-ratelimit-reset']);
  if (String(headers['x-ratelimit-remaining']) === '0' && Number.isFinite(reset)) return Math.max(now, reset * 1000);
  // a secondary rate limit without headers: GitHub advises a minute
  if (status === 429 || /secondary rate limit|abuse/i.test(message)) return now + 60_000;
  return undefined;
};

/** github.com's API lives on its own host; GitHub Enterprise serves it under /api/v3. */
export const defaultApiUrl = (githubUrl: string): string => {
  const u = new URL(githubUrl);
  return u.hostname === 'github.com' ? 'https://api.github.com' : `${u.origin}/api/v3`;
};

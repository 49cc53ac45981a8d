import { randomBytes, randomUUID } from 'node:crypto';
import { projectOwner } from '../adapters/encryption/port.ts';
import { GitHubRateLimited, GitHubRefused, type GitHub } from '../adapters/github/port.ts';
import { fold } from '../domain/decider.ts';
import { DomainError, GyreError, parseInput } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import type { Member } from '../domain/organizations.ts';
import { GitUrl } from '../domain/projects/git-url.ts';
import { githubCloneUrl, githubRepoOf, parseRepoName, repoName, type GitHubRepoRef } from '../domain/projects/github-repo.ts';
import { projectDecider, projectStream, type FollowHook, type ProjectEvent } from '../domain/projects/project.ts';
import { parseProjectSlug } from '../domain/projects/slugs.ts';
import { mask } from '../domain/secrets/secret-value.ts';
import { projectBySlug, type ProjectRow } from '../projections/projects.ts';
import type { Caller } from './accounts.ts';
import type { Logger, WithStore } from './dependencies.ts';
import { findProject, gitHostsOf, runProjectCommand, type ProjectDeps } from './projects.ts';
import { written } from './read-your-writes.ts';

/**
 * Following a repository: a project on the GitHub host gets Gyre's webhook, registered with the
 * follower's GitHub token (from their latest GitHub sign-in); unfollowing removes it. A project given
 * by any other git URL (or a local path) is followed as before, with no webhook.
 */
export type FollowDeps = ProjectDeps &
  WithStore & {
    readonly github: GitHub;
    /** Opens the GitHub token of a person's latest sign-in (workers/job-secrets.ts). */
    readonly jobSecrets: { githubToken(userId: string): Promise<string | null> };
    readonly config: ProjectDeps['config'] & { readonly GYRE_PUBLIC_URL?: string | undefined };
    /** Where GitHub reaches Gyre: the webhook is `${publicUrl}/hooks/github`. */
    readonly publicUrl: string;
    readonly log: Logger;
  };

/** The events GitHub delivers to a followed repository's webhook. */
export const hookEvents = ['push', 'pull_request'];

/** GitHub's refusals as errors that say what to do; none holds a token or the webhook secret. */
const githubError = (e: unknown, doing: string): unknown => {
  if (e instanceof GitHubRateLimited)
    return new GyreError(`GitHub is rate-limiting Gyre while it ${doing}: try again after ${new Date(e.retryAt).toISOString()}`, 'GITHUB_RATE_LIMITED', 429);
  if (!(e instanceof GitHubRefused)) return e;
  if (e.status >= 500) return new GyreError(`GitHub did not answer while Gyre ${doing} (${e.message}): try again later`, 'GITHUB_UNAVAILABLE', 502);
  const hint =
    e.status === 401
      ? 'your GitHub token is no longer valid: sign in with GitHub again'
      : 'you need admin rights on the repository, and a GitHub sign-in that granted admin:repo_hook (sign in again to grant it)';
  return new DomainError('GITHUB_REFUSED', `${e.message}; ${hint}`);
};

/** A person's GitHub token, or null when they have none or were deleted (their data key destroyed). */
const tokenOf = (s: FollowDeps, userId: string) =>
  s.jobSecrets.githubToken(userId).catch((e: unknown) => {
    if (e instanceof GyreError && e.code === 'DATA_KEY_DESTROYED') return null;
    throw e;
  });

/** The project's stream and what it holds, read once: the command decides on the same reading. */
const stateOf = async (s: WithStore, slug: ReturnType<typeof parseProjectSlug>) => {
  const history = await s.store.readStream(projectStream(slug));
  return { history, state: fold(projectDecider, history as unknown as ProjectEvent[]) };
};

/**
 * `createProject`: follows a repository. With no `gitUrl`, it is the repository of the slug on the
 * GitHub host. On the GitHub host and with a follower who signed in with GitHub, Gyre registers its
 * webhook first and records it with the project; a follower with no GitHub token (an API token's
 * embedded admin) follows without a webhook (the project's `webhook` is null: add one by hand with a
 * webhookSecret, or unfollow and follow again after a GitHub sign-in). If the project cannot be
 * recorded after the webhook was registered (someone followed it first), the webhook is removed again.
 */
export const followProject = async (
  s: FollowDeps,
  context: CommandContext,
  by: Member,
  follower: Caller,
  input: { slug?: unknown; gitUrl?: unknown },
): Promise<ProjectRow> => {
  const slug = parseProjectSlug(input.slug);
  const given = input.gitUrl === undefined || input.gitUrl === null ? undefined : parseInput(GitUrl, input.gitUrl, 'gitUrl');
  const known = await projectBySlug(s.db, slug.key);
  const { history, state } = await stateOf(s, slug);
  // following again keeps the git URL it had (the decider refuses another) and the repository its webhook was on
  const gitUrl = given ?? state?.settings.gitUrl ?? githubCloneUrl(s.config.GYRE_GITHUB_URL, slug);
  const projectId = known?.id ?? randomUUID();
  // refused before GitHub is asked anything: not a member, a local path or a host not allowed by a non-admin, already followed, another git URL
  projectDecider.decide({ type: 'create', projectId, slug, gitUrl, gitHosts: gitHostsOf(s), by }, state);
  const repo = state?.repository ? parseRepoName(state.repository) : githubRepoOf(s.config.GYRE_GITHUB_URL, slug, state ? gitUrl : given);
  const token = repo ? await tokenOf(s, follower.id) : null;
  let hook: FollowHook | null = null;
  if (repo && token) {
    if (!s.config.GYRE_PUBLIC_URL)
      throw new DomainError(
        'PUBLIC_URL_REQUIRED',
        `following ${repoName(repo)} registers a webhook GitHub must reach: set GYRE_PUBLIC_URL to the address GitHub reaches Gyre at, then follow ${slug.slug} again`,
      );
    const secret = randomBytes(32).toString('hex');
    const created = await s.github.createHook(token, repo, { url: `${s.publicUrl}/hooks/github`, secret, events: hookEvents }).catch((e: unknown) => {
      throw githubError(e, `registered its webhook on ${repoName(repo)}`);
    });
    hook = {
      repository: repoName(repo),
      hookId: created.id,
      followerId: follower.id,
      followerLogin: follower.login,
      webhookSecret: { sealed: await s.vault.seal(projectOwner(projectId), 'webhook secret', secret), masked: mask(secret) },
    };
  }
  try {
    await runProjectCommand(s, context, slug, { type: 'create', projectId, slug, gitUrl, gitHosts: gitHostsOf(s), hook, by }, known, history);
  } catch (e) {
    if (hook && repo && token) await removeHook(s, token, repo, hook.hookId);
    throw e;
  }
  return written(await projectBySlug(s.db, slug.key));
};

/** Removes a webhook whose project was never recorded; a failure is logged, never hides the refusal that caused it. */
const removeHook = async (s: FollowDeps, token: string, repo: GitHubRepoRef, hookId: number) => {
  await s.github
    .deleteHook(token, repo, hookId)
    .catch((err: unknown) =>
      s.log.error({ err, repository: repoName(repo), hookId }, 'could not remove the webhook of a project that was not recorded: remove it on GitHub by hand'),
    );
};

/**
 * `unfollowProject`: removes Gyre's webhook from GitHub (one GitHub no longer has counts as removed)
 * with the caller's GitHub token, or else the follower's, then records `project.unfollow`. A refusal
 * by GitHub changes nothing. Deliveries to an unfollowed project start nothing; following it again works.
 */
export const unfollowProject = async (s: FollowDeps, context: CommandContext, by: Member, caller: Caller, rawSlug: unknown): Promise<ProjectRow> => {
  const project = await findProject(s, rawSlug);
  const slug = parseProjectSlug(project.slug);
  const { history, state } = await stateOf(s, slug);
  projectDecider.decide({ type: 'unfollow', by }, state);
  const hook = state?.hook;
  if (hook) {
    const token = (await tokenOf(s, caller.id)) ?? (await tokenOf(s, hook.followerId));
    if (!token)
      throw new DomainError(
        'GITHUB_TOKEN_REQUIRED',
        `removing Gyre's webhook from ${hook.repository} needs a GitHub token: sign in with GitHub, then unfollow ${project.slug}`,
      );
    await s.github.deleteHook(token, parseRepoName(hook.repository), hook.hookId).catch((e: unknown) => {
      throw githubError(e, `removed its webhook from ${hook.repository}`);
    });
  }
  await runProjectCommand(s, context, slug, { type: 'unfollow', by }, project, history);
  return written(await projectBySlug(s.db, slug.key));
};

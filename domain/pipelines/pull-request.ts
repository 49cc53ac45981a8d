import { z } from 'zod';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * A GitHub pull request of a followed repository, as its `pull_request` deliveries tell it: open
 * (opened, reopened, a new head pushed) or closed. One stream per pull request; "only build pull
 * requests" and the cancel of a closed pull request's pipelines read what these events say.
 */
export const pullRequestStream = (projectId: string, number: number) => `pull-request-${projectId}-${number}`;
export const pullRequestTarget = (p: { projectId: string; projectSlug: string; number: number }) => ({
  id: `${p.projectId}#${p.number}`,
  type: 'pull_request',
  name: `${p.projectSlug}#${p.number}`,
});

const ref = { projectId: z.string(), projectSlug: z.string(), number: z.number().int().positive() };
/**
 * `headBranch`: the branch in the head repository (a fork's own, for a fork); `headOwner`/`headRepo`:
 * the head repository (`CIRCLE_PR_USERNAME`, `CIRCLE_PR_REPONAME`).
 */
export const pullRequestOpened = defineEvent(
  'pull_request.open',
  z.object({
    ...ref,
    url: z.string(),
    headSha: z.string(),
    headBranch: z.string(),
    baseBranch: z.string(),
    fromFork: z.boolean(),
    headOwner: z.string(),
    headRepo: z.string(),
  }),
  { publicFields: ['projectId', 'projectSlug', 'number', 'url', 'headSha', 'headBranch', 'baseBranch', 'fromFork', 'headOwner', 'headRepo'] },
);
export const pullRequestClosed = defineEvent('pull_request.close', z.object({ ...ref, merged: z.boolean() }), {
  publicFields: ['projectId', 'projectSlug', 'number', 'merged'],
});
export const pullRequestEvents = [pullRequestOpened, pullRequestClosed];
export type PullRequestEvent = EventOf<typeof pullRequestOpened> | EventOf<typeof pullRequestClosed>;
export type PullRequestDetails = EventOf<typeof pullRequestOpened>['data'];

export type PullRequestCommand =
  | { type: 'open'; pullRequest: PullRequestDetails }
  | { type: 'close'; projectId: string; projectSlug: string; number: number; merged: boolean };
export type PullRequestState = { open: boolean; headSha: string | null } | null;

export const pullRequestDecider: Decider<PullRequestState, PullRequestCommand, PullRequestEvent> = {
  initialState: () => null,
  evolve: (s, e) => (e.type === 'pull_request.open' ? { open: true, headSha: e.data.headSha } : { open: false, headSha: s?.headSha ?? null }),
  decide: (c, s) => {
    // a delivery told twice changes nothing the second time
    if (c.type === 'open') return s?.open && s.headSha === c.pullRequest.headSha ? [] : [{ type: 'pull_request.open', data: c.pullRequest }];
    if (s && !s.open) return [];
    return [{ type: 'pull_request.close', data: { projectId: c.projectId, projectSlug: c.projectSlug, number: c.number, merged: c.merged } }];
  },
};

/**
 * Who builds a revision of a branch that GitHub tells twice (its push, and its pull request's delivery):
 * one stream per (project, branch, revision), appended to at the revision read, so of two servers
 * told at once one claims it and the other finds the winner's pipeline. A claim names the pipeline it
 * is for (its id chosen before the pipeline is created); the application judges when an older claim
 * may be superseded (application/pull-requests.ts), this only that nobody else claimed meanwhile. A
 * claim whose pipeline could not be created is released.
 */
export const revisionBuildStream = (projectId: string, branch: string, revision: string) => `revision-build-${projectId}-${revision}-${branch}`;
export const revisionBuildTarget = (r: { projectId: string; projectSlug: string; branch: string; revision: string }) => ({
  id: `${r.projectId}:${r.branch}@${r.revision}`,
  type: 'revision',
  name: `${r.projectSlug} ${r.branch}@${r.revision.slice(0, 12)}`,
});

const revision = { projectId: z.string(), projectSlug: z.string(), branch: z.string(), revision: z.string(), pipelineId: z.string() };
export const revisionBuildClaimed = defineEvent('revision_build.claim', z.object({ ...revision, claimedAt: z.string(), deliveryId: z.string().nullable() }), {
  publicFields: ['projectId', 'projectSlug', 'branch', 'revision', 'pipelineId', 'claimedAt', 'deliveryId'],
});
export const revisionBuildReleased = defineEvent('revision_build.release', z.object(revision), {
  publicFields: ['projectId', 'projectSlug', 'branch', 'revision', 'pipelineId'],
});
export const revisionBuildEvents = [revisionBuildClaimed, revisionBuildReleased];
export type RevisionBuildEvent = EventOf<typeof revisionBuildClaimed> | EventOf<typeof revisionBuildReleased>;
type RevisionBuildClaim = EventOf<typeof revisionBuildClaimed>['data'];

/** `supersedes`: the pipeline of the claim the caller saw and judged stale (null: it saw none). */
export type RevisionBuildCommand = { type: 'claim'; claim: RevisionBuildClaim; supersedes: string | null } | { type: 'release'; claim: RevisionBuildClaim };
/** The last event alone holds it. */
export type RevisionBuildState = { pipelineId: string; claimedAt: string; deliveryId: string | null; released: boolean } | null;

export const revisionBuildDecider: Decider<RevisionBuildState, RevisionBuildCommand, RevisionBuildEvent> = {
  initialState: () => null,
  evolve: (_, e) =>
    e.type === 'revision_build.claim'
      ? { pipelineId: e.data.pipelineId, claimedAt: e.data.claimedAt, deliveryId: e.data.deliveryId, released: false }
      : { pipelineId: e.data.pipelineId, claimedAt: '', deliveryId: null, released: true },
  decide: (c, s) => {
    if (c.type === 'claim') {
      // someone claimed it after the caller looked: theirs stands
      if (s && !s.released && s.pipelineId !== c.supersedes) return [];
      return [{ type: 'revision_build.claim', data: c.claim }];
    }
    if (!s || s.released || s.pipelineId !== c.claim.pipelineId) return [];
    const { claimedAt: _at, deliveryId: _d, ...released } = c.claim;
    return [{ type: 'revision_build.release', data: released }];
  },
};

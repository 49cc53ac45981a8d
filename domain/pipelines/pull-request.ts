import { z } from 'zod';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * A GitHub pull request of a followed repository, as its `pull_request` deliveries tell it: open
 * (opened, reopened, a new head pushed) or closed. One stream per pull request; "only build pull
 * requests" and the cancel of a closed pull request's pipelines read what these events say.
 */
export const pullRequestStream = (projectId: string, number: number) => `pull-request-${projectId}-${number}`;
export const pullRequestTarget = (p: { projectId: string; projectSlug: string; number: number }) => ({ id: `${p.projectId}#${p.number}`, type: 'pull_request', name: `${p.projectSlug}#${p.number}` });

const ref = { projectId: z.string(), projectSlug: z.string(), number: z.number().int().positive() };
/**
 * `headBranch`: the branch in the head repository (a fork's own, for a fork); `headOwner`/`headRepo`:
 * the head repository (`CIRCLE_PR_USERNAME`, `CIRCLE_PR_REPONAME`).
 */
export const pullRequestOpened = defineEvent(
  'pull_request.open',
  z.object({ ...ref, url: z.string(), headSha: z.string(), headBranch: z.string(), baseBranch: z.string(), fromFork: z.boolean(), headOwner: z.string(), headRepo: z.string() }),
  { publicFields: ['projectId', 'projectSlug', 'number', 'url', 'headSha', 'headBranch', 'baseBranch', 'fromFork', 'headOwner', 'headRepo'] },
);
export const pullRequestClosed = defineEvent('pull_request.close', z.object({ ...ref, merged: z.boolean() }), { publicFields: ['projectId', 'projectSlug', 'number', 'merged'] });
export const pullRequestEvents = [pullRequestOpened, pullRequestClosed];
export type PullRequestEvent = EventOf<typeof pullRequestOpened> | EventOf<typeof pullRequestClosed>;
export type PullRequestDetails = EventOf<typeof pullRequestOpened>['data'];

export type PullRequestCommand = { type: 'open'; pullRequest: PullRequestDetails } | { type: 'close'; projectId: string; projectSlug: string; number: number; merged: boolean };
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

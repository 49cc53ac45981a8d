import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { createRegistry } from '../events/registry.ts';
import { builtinEnvironment } from '../jobs/environment.ts';
import { jobSpecOf } from '../jobs/job-spec.ts';
import { pipelineCreated } from './pipeline.ts';
import {
  pullRequestDecider,
  pullRequestEvents,
  revisionBuildDecider,
  revisionBuildEvents,
  type PullRequestCommand,
  type RevisionBuildCommand,
} from './pull-request.ts';

const test = suite('domain/pipelines: pull requests, and what a build of one is told');
const registry = createRegistry(pullRequestEvents);
const opened = (headSha: string): PullRequestCommand => ({
  type: 'open',
  pullRequest: {
    projectId: 'p',
    projectSlug: 'gh/acme/app',
    number: 3,
    url: 'https://github.com/acme/app/pull/3',
    headSha,
    headBranch: 'main',
    baseBranch: 'main',
    fromFork: true,
    headOwner: 'outsider',
    headRepo: 'app',
  },
});
const closed: PullRequestCommand = { type: 'close', projectId: 'p', projectSlug: 'gh/acme/app', number: 3, merged: false };
const pullRequests = deciderSpec(pullRequestDecider, { registry });
const run = (...commands: PullRequestCommand[]) => pullRequests.run(...commands).history.map((e) => e.type);

test('opened, told again, pushed to, closed twice, reopened: each change once', () => {
  assert.equal(run(opened('a'), opened('a'), opened('b'), closed, closed, opened('b')), [
    'pull_request.open',
    'pull_request.open',
    'pull_request.close',
    'pull_request.open',
  ]);
  // a close of a pull request Gyre never saw opened is still told (its pushes may have built)
  assert.equal(run(closed), ['pull_request.close']);
});

test('pipeline.create events from before pull requests were kept still parse, with none', () => {
  const old = {
    pipelineId: 'x',
    projectId: 'p',
    projectSlug: 'gh/acme/app',
    number: 1,
    state: 'created',
    errors: [],
    trigger: { type: 'webhook', receivedAt: 'now', actor: { login: 'dev', avatarUrl: null } },
    vcs: { originRepositoryUrl: '/r', revision: 'abc', branch: 'main', tag: null, commit: null },
    parameters: {},
    config: null,
    workflows: [],
    jobsAfter: 0,
  };
  assert.is(pipelineCreated.schema.parse(old).vcs.pullRequest, null);
});

test('CIRCLE_PULL_REQUEST for every build of a pull request; CIRCLE_PR_* for a fork only', () => {
  const spec = (fromFork: boolean) =>
    jobSpecOf({
      job: { machine: true, steps: ['checkout'] },
      ids: {
        jobId: 'j',
        jobNumber: 1,
        name: 'build',
        workflowId: 'w',
        workflowName: 'main',
        pipelineId: 'p',
        pipelineNumber: 1,
        projectSlug: 'gh/acme/app',
        runsFor: 'dev',
        contexts: [],
        vcs: {
          repositoryUrl: '/r',
          revision: 'abc',
          branch: fromFork ? 'pull/3' : 'feature',
          tag: null,
          fromFork,
          pullRequest: { number: 3, url: 'https://github.com/acme/app/pull/3', headOwner: fromFork ? 'outsider' : 'acme', headRepo: 'app' },
        },
      },
      resourceClass: { kind: 'machine', name: 'medium', cpus: 2, memoryMb: 7680 },
      timeoutMs: 1000,
    });
  const own = builtinEnvironment(spec(false), 0, 'http://gyre/b');
  assert.is(own.CIRCLE_PULL_REQUEST, 'https://github.com/acme/app/pull/3');
  assert.is(own.CIRCLE_PR_NUMBER, undefined);
  const fork = builtinEnvironment(spec(true), 0, 'http://gyre/b');
  assert.equal(
    [fork.CIRCLE_BRANCH, fork.CIRCLE_PULL_REQUESTS, fork.CIRCLE_PR_NUMBER, fork.CIRCLE_PR_USERNAME, fork.CIRCLE_PR_REPONAME],
    ['pull/3', 'https://github.com/acme/app/pull/3', '3', 'outsider', 'app'],
  );
});

const claims = createRegistry(revisionBuildEvents);
const claimOf = (pipelineId: string) => ({
  projectId: 'p',
  projectSlug: 'gh/acme/app',
  branch: 'feature',
  revision: 'a'.repeat(40),
  pipelineId,
  claimedAt: '2026-01-01T00:00:00.000Z',
  deliveryId: null,
});
const claim = (pipelineId: string, supersedes: string | null): RevisionBuildCommand => ({ type: 'claim', supersedes, claim: claimOf(pipelineId) });
const release = (pipelineId: string): RevisionBuildCommand => ({ type: 'release', claim: claimOf(pipelineId) });
const revisionBuilds = deciderSpec(revisionBuildDecider, { registry: claims });
const claimed = (...commands: RevisionBuildCommand[]) => revisionBuilds.run(...commands).history.map((e) => `${e.type} ${e.data.pipelineId}`);

test('a revision is claimed by the first; a later claim only supersedes the claim its caller saw, or a released one', () => {
  // two that saw no claim: the second finds the first's
  assert.equal(claimed(claim('p1', null), claim('p2', null)), ['revision_build.claim p1']);
  // one that judged p1 stale supersedes it; one that judged a claim since superseded does not
  assert.equal(claimed(claim('p1', null), claim('p2', 'p1'), claim('p3', 'p1')), ['revision_build.claim p1', 'revision_build.claim p2']);
  // a claim whose pipeline was not created is released, once, by its own holder only; then anyone may claim
  assert.equal(claimed(claim('p1', null), release('p2'), release('p1'), release('p1'), claim('p3', null)), [
    'revision_build.claim p1',
    'revision_build.release p1',
    'revision_build.claim p3',
  ]);
});

test.run();

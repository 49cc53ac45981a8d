import { createHash, createHmac, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGyre, type Gyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { masterKeyFile } from '../adapters/encryption/master-keys.ts';
import { cancelIfStartedRedundant, REVISION_DEDUPE_WINDOW_MS } from '../application/pull-requests.ts';
import { workflowStream } from '../domain/pipelines/workflow.ts';
import { testDatabase } from './support/database.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { finished, ok, parkedConfig, until } from './support/jobs.ts';

/**
 * GitHub's pull_request deliveries, signed with the project's webhook secret and posted over HTTP to
 * a real Gyre, build real commits of a real repository (a fork's only under refs/pull/<n>/head) with
 * jobs that really run on the host and print their environment.
 */
const test = suite('pull requests: builds of pull requests and forks, only-build-PRs, auto-cancel');
const slug = 'gh/acme/app';
const secret = randomBytes(24).toString('hex');
const canary = `canary-${randomBytes(12).toString('hex')}`;
const contextCanary = `ctx-canary-${randomBytes(12).toString('hex')}`;
let g: TestGyre;
let base = '';
/** A second server on the same database: two servers told of one revision at once build it once. */
let second: Gyre;
let secondDir = '';
let secondBase = '';
/** Both servers' clock: the test moves it past the window in which a revision told again is not built again. */
let ahead = 0;
const now = () => Date.now() + ahead;
let repo: ReturnType<typeof gitRepo>;
let mainSha = '';

/** `env` prints what a build of a pull request is told; `deploy` needs a context; `parked` waits on a runner class nobody serves (queued until canceled). */
const config = `
version: 2.1
jobs:
  env:
    machine: true
    steps:
      - checkout
      - run: |
          echo "HEAD=$(git rev-parse HEAD)"
          echo "project secret sha256: $(printf %s "$PROJECT_SECRET" | sha256sum | cut -c1-64)"
          env | grep -E '^(CIRCLE_BRANCH|CIRCLE_SHA1|CIRCLE_PULL_REQUESTS?|CIRCLE_PR_[A-Z]+|PROJECT_SECRET|CONTEXT_SECRET)=' | sort
  deploy:
    machine: true
    steps:
      - run: echo "context says $CONTEXT_SECRET"
workflows:
  main:
    jobs:
      - env
      - deploy: {context: [release]}
`;
const parked = parkedConfig('acme');

const digest = (v: string) => createHash('sha256').update(v).digest('hex');
const admin = () => ({ 'circle-token': g.adminToken });
const get = async (path: string) => {
  const r = await fetch(`${base}${path}`, { headers: admin() });
  assert.is(r.status, 200, `GET ${path}`);
  return (await r.json()) as any;
};
let deliveries = 0;
/** When GitHub says the push or the pull request's change happened: no two of GitHub's payloads are the same bytes, and Gyre takes the same bytes again for a replay. */
let changes = 0;
const happened = () => new Date(Date.UTC(2026, 0, 1) + ++changes * 1000).toISOString();
/** Posts a delivery signed with the project's secret, as GitHub does to a webhook set up by hand (the project's slug in its path). */
const deliver = async (event: string, payload: unknown, delivery = `delivery-${++deliveries}-${randomBytes(4).toString('hex')}`, to = base) => {
  const body = JSON.stringify(payload);
  const r = await fetch(`${to}/hooks/github/${slug}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
    body,
  });
  return { status: r.status, body: (await r.json()) as any, delivery };
};

/** GitHub's pull_request payload (the parts Gyre and most consumers read). */
const pr = (action: string, number: number, o: { sha: string; ref: string; fork?: { owner: string; repo: string }; sender?: string; merged?: boolean }) => {
  const owner = o.fork?.owner ?? 'acme';
  const name = o.fork?.repo ?? 'app';
  return {
    action,
    number,
    pull_request: {
      number,
      html_url: `https://github.com/acme/app/pull/${number}`,
      state: action === 'closed' ? 'closed' : 'open',
      updated_at: happened(),
      merged: o.merged ?? false,
      head: {
        label: `${owner}:${o.ref}`,
        ref: o.ref,
        sha: o.sha,
        user: { login: owner },
        repo: { name, full_name: `${owner}/${name}`, owner: { login: owner }, fork: Boolean(o.fork) },
      },
      base: {
        label: 'acme:main',
        ref: 'main',
        sha: mainSha,
        user: { login: 'acme' },
        repo: { name: 'app', full_name: 'acme/app', owner: { login: 'acme' }, fork: false },
      },
    },
    repository: { name: 'app', full_name: 'acme/app', owner: { login: 'acme' } },
    sender: o.sender ? { login: o.sender, id: 5151 } : { login: 'dev', id: 4242 },
  };
};
const push = (ref: string, after: string) => ({
  ref,
  before: '0'.repeat(40),
  after,
  deleted: false,
  head_commit: { id: after, timestamp: happened() },
  repository: { name: 'app', full_name: 'acme/app' },
  sender: { login: 'dev', id: 4242 },
});

/** A commit on a new branch of the repository, with `config`; the work tree goes back to main. */
const branchCommit = (branch: string, cfg: string) => {
  repo.git('checkout', '--quiet', '-B', branch, 'main');
  const sha = repo.commit(cfg, `work on ${branch}`);
  repo.git('checkout', '--quiet', 'main');
  return sha;
};
/** A fork's commit as GitHub keeps it in the base repository: under refs/pull/<n>/head only, on no branch. */
const forkCommit = (number: number, cfg: string) => {
  repo.git('checkout', '--quiet', '--detach', 'main');
  const sha = repo.commit(cfg, `a contribution for #${number}`);
  repo.git('update-ref', `refs/pull/${number}/head`, sha);
  repo.git('checkout', '--quiet', 'main');
  return sha;
};

const workflowsOf = async (pipelineId: string) => (await get(`/api/v2/pipeline/${pipelineId}/workflow`)).items as Array<{ id: string; status: string }>;
const firstWorkflow = (pipelineId: string) => until(`a workflow of pipeline ${pipelineId}`, async () => (await workflowsOf(pipelineId))[0]);
const pipelineCount = async () => (await get(`/api/v2/project/${slug}/pipeline`)).items.length as number;
/** Everything a job printed, every step's output joined. */
const output = async (jobNumber: number) => {
  const job = await get(`/api/v1.1/project/${slug}/${jobNumber}`);
  let text = '';
  for (const step of job.steps) {
    for (const action of step.actions) {
      if (!action.output_url) continue;
      text += ((await get(new URL(action.output_url).pathname)) as Array<{ message: string }>).map((m) => m.message).join('');
    }
  }
  return text;
};
const setting = (input: Record<string, unknown>) =>
  ok(g, 'mutation($s: String!, $i: ProjectSettingsInput!) { updateProjectSettings(slug: $s, input: $i) { slug } }', { s: slug, i: input });

test.before(async () => {
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' }, { now });
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  // the second server opens the same sealed secrets: the same master key
  secondDir = mkdtempSync(join(tmpdir(), 'gyre-second-'));
  copyFileSync(masterKeyFile(g.dataDir), masterKeyFile(secondDir));
  second = await createGyre(loadConfig({ GYRE_DATA_DIR: secondDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false' }), {
    db: testDatabase(),
    logger: false,
    now,
  });
  secondBase = await second.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  mainSha = repo.commit(config, 'first');
  await g.createUser('dev', { orgs: ['acme'], githubId: 4242 });
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
  await setting({ webhookSecret: secret });
  await ok(g, 'mutation($v: String!) { storeProjectEnvVar(slug: "gh/acme/app", name: "PROJECT_SECRET", value: $v) { name } }', { v: canary });
  const ctx = (await ok(g, 'mutation { createContext(input: {owner: "gh/acme", name: "release"}) { id } }')).createContext.id;
  await ok(g, 'mutation($id: ID!, $v: String!) { storeContextEnvVar(contextId: $id, name: "CONTEXT_SECRET", value: $v) { name } }', {
    id: ctx,
    v: contextCanary,
  });
});
test.after(async () => {
  await second.close();
  rmSync(secondDir, { recursive: true, force: true });
  await g.stop();
  repo.remove();
});

test('a pull request from the repository builds its head as its branch, with CIRCLE_PULL_REQUEST and the project secrets', async () => {
  const sha = branchCommit('feature', config);
  repo.git('update-ref', 'refs/pull/1/head', sha);
  const r = await deliver('pull_request', pr('opened', 1, { sha, ref: 'feature' }));
  assert.is(r.status, 201, JSON.stringify(r.body));
  const p = await get(`/api/v2/pipeline/${r.body.id}`);
  assert.equal(
    [p.vcs.branch, p.vcs.revision, p.vcs.review_id, p.vcs.review_url, p.trigger.type],
    ['feature', sha, '1', 'https://github.com/acme/app/pull/1', 'webhook'],
  );
  const w = await finished(g, (await firstWorkflow(r.body.id)).id);
  assert.is(w.byName.env!.status, 'success');
  const out = await output(w.byName.env!.jobNumber!);
  assert.match(out, `HEAD=${sha}`);
  assert.match(out, 'CIRCLE_BRANCH=feature');
  assert.match(out, 'CIRCLE_PULL_REQUEST=https://github.com/acme/app/pull/1');
  assert.match(out, 'CIRCLE_PULL_REQUESTS=https://github.com/acme/app/pull/1');
  assert.not.match(out, 'CIRCLE_PR_NUMBER');
  // the value is there (output masks it, so its digest shows it)
  assert.match(out, `project secret sha256: ${digest(canary)}`);
  assert.not.match(out, canary);
  // the same delivery again builds nothing more; the push GitHub sends for the same commit neither
  const before = await pipelineCount();
  const again = await deliver('pull_request', pr('opened', 1, { sha, ref: 'feature' }), r.delivery);
  assert.is(again.status, 200);
  assert.is(again.body.id, r.body.id);
  const pushed = await deliver('push', push('refs/heads/feature', sha));
  assert.is(pushed.status, 200);
  assert.is(pushed.body.id, r.body.id);
  assert.is(await pipelineCount(), before);
});

test("a push and its pull request's delivery arriving together, each at another server, build the revision once", async () => {
  const sha = branchCommit('together', config);
  repo.git('update-ref', 'refs/pull/8/head', sha);
  const before = await pipelineCount();
  const [a, b] = await Promise.all([
    deliver('push', push('refs/heads/together', sha)),
    deliver('pull_request', pr('synchronize', 8, { sha, ref: 'together' }), undefined, secondBase),
  ]);
  assert.equal([a.status, b.status].sort(), [200, 201], JSON.stringify([a.body, b.body]));
  assert.is(a.body.id, b.body.id);
  assert.is(await pipelineCount(), before + 1);
  await finished(g, (await firstWorkflow(a.body.id)).id);
});

test('a reopened pull request builds its head again, though it was built and canceled; its push then is not built again', async () => {
  const sha = branchCommit('reopening', parked);
  repo.git('update-ref', 'refs/pull/10/head', sha);
  const opened = await deliver('pull_request', pr('opened', 10, { sha, ref: 'reopening' }));
  assert.is(opened.status, 201, JSON.stringify(opened.body));
  const first = await firstWorkflow(opened.body.id);
  assert.is((await deliver('pull_request', pr('closed', 10, { sha, ref: 'reopening' }))).status, 202);
  assert.is((await finished(g, first.id, 15_000)).status, 'canceled');
  const reopened = await deliver('pull_request', pr('reopened', 10, { sha, ref: 'reopening' }));
  assert.is(reopened.status, 201, JSON.stringify(reopened.body));
  assert.is.not(reopened.body.id, opened.body.id);
  const again = await firstWorkflow(reopened.body.id);
  assert.is((await get(`/api/v2/workflow/${again.id}`)).status, 'running');
  // the push GitHub sends with it finds the reopened pull request's pipeline
  const pushed = await deliver('push', push('refs/heads/reopening', sha));
  assert.is(pushed.status, 200, JSON.stringify(pushed.body));
  assert.is(pushed.body.id, reopened.body.id);
  assert.is((await deliver('pull_request', pr('closed', 10, { sha, ref: 'reopening' }))).status, 202);
  assert.is((await finished(g, again.id, 15_000)).status, 'canceled');
});

test('a revision pushed again builds again once the window has passed, or once its pipeline was canceled; within it, it is built once', async () => {
  const sha = branchCommit('repush', parked);
  const a = await deliver('push', push('refs/heads/repush', sha));
  assert.is(a.status, 201, JSON.stringify(a.body));
  const told = await deliver('push', push('refs/heads/repush', sha));
  assert.is(told.status, 200);
  assert.is(told.body.id, a.body.id);
  ahead += REVISION_DEDUPE_WINDOW_MS + 60_000;
  const later = await deliver('push', push('refs/heads/repush', sha));
  assert.is(later.status, 201, JSON.stringify(later.body));
  assert.is.not(later.body.id, a.body.id);
  const w = await firstWorkflow(later.body.id);
  assert.is((await fetch(`${base}/api/v2/workflow/${w.id}/cancel`, { method: 'POST', headers: admin() })).status, 202);
  assert.is((await finished(g, w.id, 15_000)).status, 'canceled');
  const afterCancel = await deliver('push', push('refs/heads/repush', sha));
  assert.is(afterCancel.status, 201, JSON.stringify(afterCancel.body));
  assert.not.ok([a.body.id, later.body.id].includes(afterCancel.body.id));
  for (const id of [a.body.id, afterCancel.body.id])
    assert.is((await fetch(`${base}/api/v2/workflow/${(await firstWorkflow(id)).id}/cancel`, { method: 'POST', headers: admin() })).status, 202);
});

let forkSha = '';
test('a forked pull request starts nothing while "build forked pull requests" is off (the default)', async () => {
  forkSha = forkCommit(2, config);
  const before = await pipelineCount();
  const r = await deliver('pull_request', pr('opened', 2, { sha: forkSha, ref: 'main', fork: { owner: 'outsider', repo: 'app-fork' }, sender: 'outsider' }));
  assert.is(r.status, 202);
  assert.match(r.body.message, 'from a fork');
  assert.match(r.body.message, 'buildForkPullRequests');
  assert.is(await pipelineCount(), before);
});

test('with forks built, a forked pull request builds as pull/<n> from refs/pull/<n>/head with CIRCLE_PR_*, and gets no secrets', async () => {
  await setting({ buildForkPullRequests: true });
  const r = await deliver(
    'pull_request',
    pr('synchronize', 2, { sha: forkSha, ref: 'main', fork: { owner: 'outsider', repo: 'app-fork' }, sender: 'outsider' }),
  );
  assert.is(r.status, 201, JSON.stringify(r.body));
  const p = await get(`/api/v2/pipeline/${r.body.id}`);
  assert.equal([p.vcs.branch, p.vcs.revision, p.vcs.review_id], ['pull/2', forkSha, '2']);
  const shown = (
    await ok(g, 'query($id: ID!) { pipeline(id: $id) { vcs { branch pullRequest { number url fromFork headOwner headRepo } } } }', { id: r.body.id })
  ).pipeline.vcs;
  assert.equal(shown, {
    branch: 'pull/2',
    pullRequest: { number: 2, url: 'https://github.com/acme/app/pull/2', fromFork: true, headOwner: 'outsider', headRepo: 'app-fork' },
  });
  const w = await finished(g, (await firstWorkflow(r.body.id)).id);
  assert.is(w.byName.env!.status, 'success');
  // a job that needs a context does not run for a fork: its secrets are not the fork's to read
  assert.is(w.byName.deploy!.status, 'unauthorized');
  const out = await output(w.byName.env!.jobNumber!);
  assert.match(out, `HEAD=${forkSha}`);
  assert.match(out, 'CIRCLE_BRANCH=pull/2');
  assert.match(out, 'CIRCLE_PULL_REQUEST=https://github.com/acme/app/pull/2');
  assert.match(out, 'CIRCLE_PR_NUMBER=2');
  assert.match(out, 'CIRCLE_PR_USERNAME=outsider');
  assert.match(out, 'CIRCLE_PR_REPONAME=app-fork');
  assert.not.match(out, canary);
  assert.not.match(out, contextCanary);
  assert.not.match(out, 'PROJECT_SECRET');
  assert.match(out, `project secret sha256: ${digest('')}`);
  // the workflow's API answers do not carry it either
  assert.not.match(JSON.stringify(await get(`/api/v2/pipeline/${r.body.id}`)), canary);
});

test("a fork's job behind an approval that names a context is unauthorized when approved, too", async () => {
  const approving = `
version: 2.1
jobs:
  deploy:
    machine: true
    steps: [{run: echo "context says $CONTEXT_SECRET"}]
workflows:
  main:
    jobs:
      - hold: {type: approval}
      - deploy: {requires: [hold], context: [release]}
`;
  const sha = forkCommit(4, approving);
  const r = await deliver('pull_request', pr('opened', 4, { sha, ref: 'patch-1', fork: { owner: 'outsider', repo: 'app-fork' }, sender: 'outsider' }));
  assert.is(r.status, 201, JSON.stringify(r.body));
  const w = await firstWorkflow(r.body.id);
  const hold = await until('the approval on hold', async () =>
    ((await get(`/api/v2/workflow/${w.id}/job`)).items as Array<{ name: string; status: string; approval_request_id?: string }>).find(
      (j) => j.name === 'hold' && j.status === 'on_hold',
    ),
  );
  const approved = await fetch(`${base}/api/v2/workflow/${w.id}/approve/${hold.approval_request_id}`, { method: 'POST', headers: admin() });
  assert.is(approved.status, 202);
  const done = await finished(g, w.id);
  assert.is(done.byName.deploy!.status, 'unauthorized');
});

test('with "pass secrets to forked builds" on, a fork gets the project variables', async () => {
  await setting({ passSecretsToForkPullRequests: true });
  const sha = forkCommit(2, config);
  const r = await deliver('pull_request', pr('synchronize', 2, { sha, ref: 'main', fork: { owner: 'outsider', repo: 'app-fork' }, sender: 'outsider' }));
  assert.is(r.status, 201, JSON.stringify(r.body));
  const w = await finished(g, (await firstWorkflow(r.body.id)).id);
  const out = await output(w.byName.env!.jobNumber!);
  assert.match(out, `project secret sha256: ${digest(canary)}`);
  assert.not.match(out, canary);
  await setting({ passSecretsToForkPullRequests: false });
});

test('"only build pull requests": a push of a branch without a pull request starts nothing; with one open, the default branch and tags, it builds', async () => {
  await setting({ onlyBuildPullRequests: true });
  const before = await pipelineCount();
  const lonely = branchCommit('lonely', config);
  const skipped = await deliver('push', push('refs/heads/lonely', lonely));
  assert.is(skipped.status, 202);
  assert.match(skipped.body.message, 'only builds pull requests');
  assert.is(await pipelineCount(), before);

  const onMain = await deliver('push', push('refs/heads/main', mainSha));
  assert.is(onMain.status, 201, JSON.stringify(onMain.body));
  repo.git('tag', 'v1.0.0', mainSha);
  assert.is((await deliver('push', push('refs/tags/v1.0.0', mainSha))).status, 201);

  // feature has pull request #1 open: a push to it builds, and says which pull request it is
  const next = branchCommit('feature', config);
  const built = await deliver('push', push('refs/heads/feature', next));
  assert.is(built.status, 201, JSON.stringify(built.body));
  const p = await get(`/api/v2/pipeline/${built.body.id}`);
  assert.equal([p.vcs.branch, p.vcs.review_id], ['feature', '1']);

  // once a pull request is opened for lonely, its pushes build
  repo.git('update-ref', 'refs/pull/5/head', lonely);
  const opened = await deliver('pull_request', pr('opened', 5, { sha: lonely, ref: 'lonely' }));
  assert.is(opened.status, 201, JSON.stringify(opened.body));
  const more = branchCommit('lonely', config);
  assert.is((await deliver('push', push('refs/heads/lonely', more))).status, 201);
  await setting({ onlyBuildPullRequests: false });
});

test('auto-cancel: a newer pipeline of a branch cancels its older running workflow, once; never on the default branch', async () => {
  await setting({ autoCancelRedundantWorkflows: true });
  const first = branchCommit('busy', parked);
  const a = await deliver('push', push('refs/heads/busy', first));
  assert.is(a.status, 201, JSON.stringify(a.body));
  const older = await firstWorkflow(a.body.id);
  assert.is(older.status, 'running');
  const second = branchCommit('busy', parked);
  const b = await deliver('push', push('refs/heads/busy', second));
  assert.is(b.status, 201);
  const canceled = await finished(g, older.id, 15_000);
  assert.is(canceled.status, 'canceled');
  const newer = await firstWorkflow(b.body.id);
  assert.is((await get(`/api/v2/workflow/${newer.id}`)).status, 'running');
  // caused by the pipeline that made it redundant, and done once
  const cancels = await waitForAudit(g, (e) => e.action === 'workflow.cancel' && e.target.id === older.id);
  assert.is(cancels.length, 1);
  assert.is(cancels[0]!.actor.type, 'system');

  // the default branch keeps every build
  repo.git('checkout', '--quiet', 'main');
  const m1 = repo.commit(parked, 'parked on main');
  const c = await deliver('push', push('refs/heads/main', m1));
  assert.is(c.status, 201);
  const onMain = await firstWorkflow(c.body.id);
  const m2 = repo.commit(parked, 'parked on main again');
  const d = await deliver('push', push('refs/heads/main', m2));
  assert.is(d.status, 201);
  // the answer came once the reactors had passed the new pipeline: had it canceled, it would show
  await g.services.settled();
  assert.is((await get(`/api/v2/workflow/${onMain.id}`)).status, 'running');
  await setting({ autoCancelRedundantWorkflows: false });
  for (const id of [onMain.id, (await firstWorkflow(d.body.id)).id, newer.id])
    assert.is((await fetch(`${base}/api/v2/workflow/${id}/cancel`, { method: 'POST', headers: admin() })).status, 202);
});

test("auto-cancel: a workflow that starts after a newer pipeline of its branch exists is canceled as it starts (the reactor's other order)", async () => {
  // an older pipeline whose workflow runs on while the setting is off, as if its start had come late
  const a = await deliver('push', push('refs/heads/late', branchCommit('late', parked)));
  const older = await firstWorkflow(a.body.id);
  const b = await deliver('push', push('refs/heads/late', branchCommit('late', parked)));
  assert.is(b.status, 201);
  assert.is((await get(`/api/v2/workflow/${older.id}`)).status, 'running');
  await setting({ autoCancelRedundantWorkflows: true });
  const [started] = await g.services.store.readStream(workflowStream(older.id));
  assert.is(started!.type, 'workflow.start');
  await cancelIfStartedRedundant(g.services, started!);
  // told twice, it cancels once
  await cancelIfStartedRedundant(g.services, started!);
  const w = await finished(g, older.id, 15_000);
  assert.is(w.status, 'canceled');
  const jobs = (await get(`/api/v2/workflow/${older.id}/job`)).items as Array<{ status: string }>;
  assert.equal(
    jobs.map((j) => j.status),
    ['canceled'],
  );
  const cancels = await waitForAudit(g, (e) => e.action === 'workflow.cancel' && e.target.id === older.id);
  assert.is(cancels.length, 1);
  await setting({ autoCancelRedundantWorkflows: false });
  assert.is((await fetch(`${base}/api/v2/workflow/${(await firstWorkflow(b.body.id)).id}/cancel`, { method: 'POST', headers: admin() })).status, 202);
});

test('auto-cancel spares a rerun: a newer pipeline of its branch leaves it running', async () => {
  const a = await deliver('push', push('refs/heads/rerunning', branchCommit('rerunning', parked)));
  assert.is(a.status, 201, JSON.stringify(a.body));
  const original = await firstWorkflow(a.body.id);
  assert.is((await fetch(`${base}/api/v2/workflow/${original.id}/cancel`, { method: 'POST', headers: admin() })).status, 202);
  assert.is((await finished(g, original.id, 15_000)).status, 'canceled');
  const asked = await fetch(`${base}/api/v2/workflow/${original.id}/rerun`, {
    method: 'POST',
    headers: { ...admin(), 'content-type': 'application/json' },
    body: JSON.stringify({ from_failed: false }),
  });
  assert.is(asked.status, 202);
  const rerun = ((await asked.json()) as { workflow_id: string }).workflow_id;
  assert.is((await get(`/api/v2/workflow/${rerun}`)).status, 'running');
  await setting({ autoCancelRedundantWorkflows: true });
  const b = await deliver('push', push('refs/heads/rerunning', branchCommit('rerunning', parked)));
  assert.is(b.status, 201, JSON.stringify(b.body));
  // the answer came once the reactors had passed the new pipeline: had it canceled the rerun, it would show
  await g.services.settled();
  assert.is((await get(`/api/v2/workflow/${rerun}`)).status, 'running');
  await setting({ autoCancelRedundantWorkflows: false });
  for (const id of [rerun, (await firstWorkflow(b.body.id)).id])
    assert.is((await fetch(`${base}/api/v2/workflow/${id}/cancel`, { method: 'POST', headers: admin() })).status, 202);
});

test('a closed pull request cancels its running pipelines', async () => {
  const sha = branchCommit('closing', parked);
  repo.git('update-ref', 'refs/pull/7/head', sha);
  const opened = await deliver('pull_request', pr('opened', 7, { sha, ref: 'closing' }));
  assert.is(opened.status, 201, JSON.stringify(opened.body));
  const w = await firstWorkflow(opened.body.id);
  assert.is(w.status, 'running');
  const closed = await deliver('pull_request', pr('closed', 7, { sha, ref: 'closing' }));
  assert.is(closed.status, 202);
  assert.match(closed.body.message, 'closed');
  assert.is((await finished(g, w.id, 15_000)).status, 'canceled');
});

test('deliveries Gyre does not act on: ignored actions answer 202; malformed ones are refused, audited, and change nothing', async () => {
  const before = await pipelineCount();
  const labeled = await deliver('pull_request', pr('labeled', 1, { sha: mainSha, ref: 'feature' }));
  assert.is(labeled.status, 202);
  assert.match(labeled.body.message, 'ignored');

  const broken = pr('opened', 9, { sha: mainSha, ref: 'feature' }) as any;
  delete broken.pull_request.head.sha;
  const r = await deliver('pull_request', broken);
  assert.is(r.status, 400);
  assert.match(r.body.message, 'pull_request.head.sha');
  const notNumbered = await deliver('pull_request', { ...pr('opened', 9, { sha: mainSha, ref: 'feature' }), number: 'nine' });
  assert.is(notNumbered.status, 400);
  const refused = await waitForAudit(
    g,
    (e) => e.action === 'pipeline.create' && e.success === false && /pull_request delivery is malformed/.test(e.payload.reason),
    2,
  );
  assert.is(refused.length, 2);
  assert.is(refused[0]!.actor.name, 'dev');
  assert.is(await pipelineCount(), before);
});

test.run();

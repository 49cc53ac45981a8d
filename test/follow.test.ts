import { auditLogProjection } from '../projections/audit-log.ts';
import { createHmac } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gitRepo } from './support/git-repo.ts';
import { freePort } from './support/ports.ts';
import { browser, startGitHubStandIn, type StandInStatus } from './support/github-standin.ts';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from './support/gyre.ts';
import { finished, trigger, until } from './support/jobs.ts';

/**
 * Following a GitHub repository and commit statuses, end to end: people sign in through the OAuth
 * flow of a stand-in GitHub Enterprise on 127.0.0.1, which records the webhooks and statuses Gyre
 * sends it; jobs run for real on the host executor. The project's GitHub repository is fixed when it
 * is followed (its URL on the GitHub host, or the slug's); an admin then points its clone URL at a
 * local repository, which the stand-in does not serve.
 */
const test = suite('follow: webhooks registered on GitHub, commit statuses back to it');
const client = { id: 'gyre-follow', secret: 'canary-client-secret-follow' };
let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
let g: TestGyre;
let gyre: string;
let repo: ReturnType<typeof gitRepo>;
const logs: string[] = [];
const slug = 'gh/acme/widget';

const config = `
version: 2.1
jobs:
  compile:
    machine: true
    steps: [{run: echo compiled}]
  lint:
    machine: true
    steps: [{run: "echo linting; exit 1"}]
workflows:
  main:
    jobs: [compile, {lint: {requires: [compile]}}]
`;

test.before(async () => {
  github = await startGitHubStandIn(client);
  const port = await freePort();
  gyre = `http://127.0.0.1:${port}`;
  g = await startTestGyre(
    {
      GYRE_GITHUB_URL: github.url,
      GYRE_GITHUB_CLIENT_ID: client.id,
      GYRE_GITHUB_CLIENT_SECRET: client.secret,
      GYRE_PUBLIC_URL: gyre,
      GYRE_GIT_ALLOWED_HOSTS: 'git.example.com',
      GYRE_PORT: String(port),
      GYRE_LOCAL_AGENT: 'true',
      GYRE_LOCAL_MACHINE_JOBS: 'true',
      GYRE_LOG_LEVEL: 'trace',
    },
    { logStream: { write: (line) => void logs.push(line) } },
  );
  await g.app.listen({ port, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit(config, 'first');
});
test.after(async () => {
  await g.stop();
  await github.close();
  repo.remove();
});

type Browser = ReturnType<typeof browser>;
const signIn = async (user: { id: number; login: string; orgs: string[] }) => {
  github.state.signingIn = { name: user.login, ...user };
  const b = browser();
  const end = await b.visit(`${gyre}/auth/github`);
  assert.is(end.url, `${gyre}/`, await end.res.text());
  return b;
};
/** GraphQL as a signed-in browser: its session cookie, from Gyre's own origin. */
const gqlAs = async (b: Browser, query: string, variables: Record<string, unknown> = {}) => {
  const { res } = await b.visit(`${gyre}/graphql`, {
    method: 'POST',
    headers: { origin: gyre, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
};
const follow = (b: Browser, s = slug, gitUrl?: string) =>
  gqlAs(
    b,
    `mutation($s: String!, $u: String) { createProject(input: {slug: $s, gitUrl: $u}) { slug followed settings { gitUrl webhookSecret } webhook { repository hookId followedBy } } }`,
    { s, u: gitUrl ?? null },
  );
const unfollow = (b: Browser, s = slug) => gqlAs(b, 'mutation($s: String!) { unfollowProject(slug: $s) { slug followed webhook { hookId } } }', { s });
const hooksOf = (r: string) => github.repos.hooks.get(r) ?? [];

let octo: Browser;
let hookSecret = '';

test('the OAuth sign-in asks GitHub for the scopes following needs', async () => {
  const first = await fetch(`${gyre}/auth/github`, { redirect: 'manual' });
  const scope = new URL(first.headers.get('location')!).searchParams.get('scope')!;
  assert.equal(scope.split(/[ ,]+/).sort(), ['admin:repo_hook', 'read:org', 'read:user', 'repo:status']);
});

test('following a repository on the GitHub host registers the webhook with the follower token; its secret verifies a delivery', async () => {
  octo = await signIn({ id: 501, login: 'octo', orgs: ['acme'] });
  const r = await follow(octo);
  assert.is(r.errors, undefined, JSON.stringify(r.errors));
  const p = r.data!.createProject;
  const hooks = hooksOf('acme/widget');
  assert.is(hooks.length, 1);
  const [hook] = hooks;
  assert.equal(
    [hook!.name, hook!.active, hook!.events, hook!.config.url, hook!.config.content_type, hook!.config.insecure_ssl, hook!.by],
    ['web', true, ['push', 'pull_request'], `${gyre}/hooks/github`, 'json', '0', 'octo'],
  );
  assert.match(hook!.config.secret, /^[0-9a-f]{64}$/);
  hookSecret = hook!.config.secret;
  assert.equal(p, {
    slug,
    followed: true,
    settings: { gitUrl: `${github.url}/acme/widget.git`, webhookSecret: `xxxx${hookSecret.slice(-4)}` },
    webhook: { repository: 'acme/widget', hookId: String(hook!.id), followedBy: 'octo' },
  });
  const audit = await waitForAudit(g, (e) => e.action === 'project.webhook.create');
  assert.is(audit[0]!.payload.hookId, hook!.id);
  assert.is(audit[0]!.actor.name, 'octo');

  // an admin points the clone URL at a local repository: the project stays on GitHub for hooks and statuses
  const moved = await g.gql(`mutation { updateProjectSettings(slug: "${slug}", input: {gitUrl: "${repo.dir}"}) { slug } }`);
  assert.is(moved.body.errors, undefined, JSON.stringify(moved.body.errors));
  const sha = repo.git('rev-parse', 'HEAD');
  const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: 'acme/widget' }, sender: { login: 'octo', id: 501 } });
  const delivered = await fetch(`${gyre}/hooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': 'follow-1',
      // GitHub names the webhook it delivers for: Gyre finds the project by it, before reading the body
      'x-github-hook-id': String(hook!.id),
      'x-github-hook-installation-target-type': 'repository',
      'x-hub-signature-256': `sha256=${createHmac('sha256', hookSecret).update(body).digest('hex')}`,
    },
    body,
  });
  assert.is(delivered.status, 201, await delivered.clone().text());
  const started = (await delivered.json()) as { id: string };
  assert.ok(started.id);
  // the same signed body named by another hook, or by none: nothing says whose secret signs it
  const elsewhere = (headers: Record<string, string>) =>
    fetch(`${gyre}/hooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-hub-signature-256': `sha256=${createHmac('sha256', hookSecret).update(body).digest('hex')}`,
        ...headers,
      },
      body,
    });
  assert.is((await elsewhere({ 'x-github-hook-id': String(hook!.id + 1000) })).status, 401, 'a hook Gyre never registered answers as a bad signature does');
  const unnamed = await elsewhere({});
  assert.is(unnamed.status, 400);
  assert.match(((await unnamed.json()) as { message: string }).message, 'X-GitHub-Hook-ID');
});

const statusesOf = (sha: string) => github.repos.statuses.get(`acme/widget@${sha}`) ?? [];
const byContext = (list: StandInStatus[]) => {
  const out: Record<string, StandInStatus[]> = {};
  for (const s of list) (out[s.context] ??= []).push(s);
  return out;
};
const finals = new Set(['success', 'failure', 'error']);
/** Waits until each of `contexts` has a final state on the stand-in. */
const settled = (sha: string, contexts: string[]) =>
  until(
    `commit statuses of ${sha} for ${contexts.join(', ')}`,
    async () => {
      const by = byContext(statusesOf(sha));
      return contexts.every((c) => by[c] && finals.has(by[c]!.at(-1)!.state)) ? by : undefined;
    },
    60_000,
  );

const pipelineOf = async (id: string) => {
  const p = (await g.gql('query($id: ID!) { pipeline(id: $id) { number vcs { revision } workflows { id name jobs { name jobNumber } } } }', { id })).body.data!
    .pipeline;
  return p as {
    number: number;
    vcs: { revision: string };
    workflows: Array<{ id: string; name: string; jobs: Array<{ name: string; jobNumber: number | null }> }>;
  };
};

const checkStatuses = async (pipelineId: string) => {
  const p = await until('the workflow', async () => {
    const x = await pipelineOf(pipelineId);
    return x.workflows.length ? x : undefined;
  });
  const w = p.workflows[0]!;
  const done = await finished(g, w.id);
  assert.is(done.status, 'failed');
  const contexts = ['ci/gyre: main', 'ci/gyre: main/compile', 'ci/gyre: main/lint'];
  const by = await settled(p.vcs.revision, contexts);
  assert.equal(Object.keys(by).sort(), contexts);
  for (const c of contexts) {
    const list = by[c]!;
    assert.is(list[0]!.state, 'pending', `${c} starts pending`);
    assert.ok(
      list.slice(0, -1).every((s) => s.state === 'pending'),
      `${c}: only its last state is final: ${JSON.stringify(list)}`,
    );
    assert.ok(
      list.every((s) => s.by === 'octo'),
      'posted with the follower token',
    );
  }
  const wfUrl = `${gyre}/pipelines/${slug}/${p.number}/workflows/${w.id}`;
  const job = (name: string) => w.jobs.find((j) => j.name === name)!.jobNumber;
  const last = (c: string) => by[c]!.at(-1)!;
  assert.equal([last('ci/gyre: main').state, last('ci/gyre: main').target_url], ['failure', wfUrl]);
  assert.match(last('ci/gyre: main').description, /^Failed after (\d+m )?\d+s$/, last('ci/gyre: main').description);
  assert.equal([last('ci/gyre: main/compile').state, last('ci/gyre: main/compile').target_url], ['success', `${wfUrl}/jobs/${job('compile')}`]);
  assert.match(last('ci/gyre: main/compile').description, /^Succeeded in (\d+m )?\d+s$/, last('ci/gyre: main/compile').description);
  assert.equal([last('ci/gyre: main/lint').state, last('ci/gyre: main/lint').target_url], ['failure', `${wfUrl}/jobs/${job('lint')}`]);
  assert.ok(
    by['ci/gyre: main/lint']!.some((s) => s.description === 'Queued' || s.description === 'Running'),
    'a pending status says what happened',
  );
  return { by, done };
};

test('each workflow and job posts pending, then its final state, with links to Gyre and descriptions', async () => {
  const p = (await g.gql('{ project(slug: "gh/acme/widget") { id } }')).body.data!.project;
  assert.ok(p);
  const pipeline = await until('the pushed pipeline', async () => {
    const r = await g.app.inject({ url: `/api/v2/project/${slug}/pipeline`, headers: { 'circle-token': g.adminToken } });
    return (r.json() as { items: Array<{ id: string }> }).items[0];
  });
  await checkStatuses(pipeline.id);
});

test('while GitHub rate-limits (403 with x-ratelimit-reset, then 429 with retry-after) the build runs on, and every status arrives after the reset', async () => {
  for (const limit of [
    { kind: 403 as const, count: 3, resetInSeconds: 2 },
    { kind: 429 as const, count: 2, resetInSeconds: 1 },
  ]) {
    const before = github.repos.rateLimited;
    github.repos.rateLimitNext = { ...limit };
    const limitedAt = Date.now();
    repo.commit(config, `limited ${limit.kind}`);
    const run = await trigger(g, slug);
    const started = Date.now();
    const { done } = await checkStatuses(run.id);
    assert.is(done.status, 'failed');
    assert.is(github.repos.rateLimited - before, limit.count, 'GitHub was asked while it limited, and refused');
    assert.ok(Date.now() - limitedAt >= (limit.kind === 403 ? 1000 : limit.resetInSeconds * 1000), 'statuses waited for the reset');
    assert.ok(Date.now() - started < 60_000);
  }
});

test('a canceled workflow ends at error, saying who canceled it; its running job too', async () => {
  const slow = `
version: 2.1
jobs:
  wait:
    machine: true
    steps: [{run: "sleep 60"}]
workflows:
  slow:
    jobs: [wait]
`;
  const sha = repo.commit(slow, 'slow');
  const run = await trigger(g, slug);
  const w = await until('the workflow', async () => (await pipelineOf(run.id)).workflows[0]);
  await until('the job running', async () =>
    statusesOf(sha).some((x) => x.context === 'ci/gyre: slow/wait' && x.description === 'Running') ? true : undefined,
  );
  const canceled = await g.gql('mutation($id: ID!) { cancelWorkflow(workflowId: $id) { status } }', { id: w.id });
  assert.is(canceled.body.errors, undefined, JSON.stringify(canceled.body.errors));
  const by = await settled(sha, ['ci/gyre: slow', 'ci/gyre: slow/wait']);
  const wf = by['ci/gyre: slow']!.at(-1)!;
  assert.equal([wf.state, wf.description], ['error', 'Canceled by admin']);
  assert.is(by['ci/gyre: slow/wait']!.at(-1)!.state, 'error');
  assert.match(by['ci/gyre: slow/wait']!.at(-1)!.description, /^Canceled/);
  repo.commit(config, 'back to the usual config');
});

test('the workflow does not wait for GitHub: with every status refused for a while, it ends before any status arrives', async () => {
  github.repos.rateLimitNext = { kind: 429, count: 1, resetInSeconds: 30 };
  const sha = repo.commit(config, 'slow github');
  const run = await trigger(g, slug);
  const w = await until('the workflow', async () => (await pipelineOf(run.id)).workflows[0]);
  const t0 = Date.now();
  const done = await finished(g, w.id, 25_000);
  assert.is(done.status, 'failed');
  assert.ok(Date.now() - t0 < 25_000);
  assert.is(statusesOf(sha).length, 0, 'nothing posted while GitHub asked to wait');
  github.repos.rateLimitNext = null;
});

test('bad input: an unknown slug, someone outside the organization, GitHub refusing; each refused, audited, nothing changed', async () => {
  const outsider = await signIn({ id: 502, login: 'mallory', orgs: ['other'] });
  const refused = await follow(outsider, 'gh/acme/secret');
  assert.is(refused.errors?.[0]?.extensions?.code, 'NOT_ORG_MEMBER');
  assert.is(hooksOf('acme/secret').length, 0, 'GitHub was not asked');
  await waitForAudit(g, (e) => e.action === 'project.create' && e.success === false && e.actor.name === 'mallory');
  const notMine = await unfollow(outsider);
  assert.is(notMine.errors?.[0]?.extensions?.code, 'NOT_ORG_MEMBER');
  assert.is(hooksOf('acme/widget').length, 1);

  const unknown = await unfollow(octo, 'gh/acme/nothing');
  assert.is(unknown.errors?.[0]?.extensions?.code, 'NOT_FOUND');
  const badSlug = await follow(octo, 'gh/acme');
  assert.is(badSlug.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');

  for (const status of [403, 404, 422]) {
    github.repos.refuseHooks.set('acme/gadget', status);
    const r = await follow(octo, 'gh/acme/gadget');
    assert.is(r.errors?.[0]?.extensions?.code, 'GITHUB_REFUSED', JSON.stringify(r.errors));
    assert.match(r.errors![0]!.message, `(${status})`);
    assert.match(r.errors![0]!.message, /admin/);
    assert.is((await g.gql('{ project(slug: "gh/acme/gadget") { id } }')).body.data!.project, null);
  }
  github.repos.refuseHooks.delete('acme/gadget');
  await waitForAudit(g, (e) => e.action === 'project.create' && e.success === false && e.payload.code === 'GITHUB_REFUSED', 3);

  const twice = await follow(octo);
  assert.is(twice.errors?.[0]?.extensions?.code, 'PROJECT_EXISTS');
  assert.is(hooksOf('acme/widget').length, 1, 'refused before GitHub was asked');
});

test('a follower without a GitHub token (an API token) follows without a webhook; a plain git URL follows as before', async () => {
  const r = await g.gql('mutation { createProject(input: {slug: "gh/acme/tokenless"}) { followed webhook { hookId } settings { gitUrl } } }');
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  assert.equal(r.body.data!.createProject, { followed: true, webhook: null, settings: { gitUrl: `${github.url}/acme/tokenless.git` } });
  const plain = await follow(octo, 'gh/acme/local', repo.dir);
  assert.is(plain.errors?.[0]?.extensions?.code, 'LOCAL_REPOSITORY', 'a local path stays an admin matter');
  const elsewhere = await follow(octo, 'gh/acme/elsewhere', 'https://git.example.com/acme/elsewhere.git');
  assert.equal(elsewhere.data!.createProject.webhook, null);
  assert.is(hooksOf('acme/tokenless').length + hooksOf('acme/elsewhere').length, 0);
});

test('a race lost after the webhook was registered removes the webhook again', async () => {
  const [a, b] = await Promise.all([follow(octo, 'gh/acme/raced'), follow(octo, 'gh/acme/raced')]);
  const winners = [a, b].filter((x) => !x.errors);
  assert.is(winners.length, 1, JSON.stringify([a.errors, b.errors]));
  const loser = [a, b].find((x) => x.errors)!;
  assert.is(loser.errors![0]!.extensions?.code, 'PROJECT_EXISTS');
  assert.equal(
    hooksOf('acme/raced').map((h) => String(h.id)),
    [winners[0]!.data!.createProject.webhook.hookId],
  );
});

test('unfollowing removes the webhook; deliveries then start nothing; following again registers a new one', async () => {
  const hookId = hooksOf('acme/widget')[0]!.id;
  const r = await unfollow(octo);
  assert.is(r.errors, undefined, JSON.stringify(r.errors));
  assert.equal(r.data!.unfollowProject, { slug, followed: false, webhook: null });
  assert.is(hooksOf('acme/widget').length, 0);
  assert.ok(github.repos.deletions.includes(`acme/widget#${hookId} by octo`));
  const audit = await waitForAudit(g, (e) => e.action === 'project.unfollow' && e.success === true);
  assert.is(audit[0]!.payload.hookId, hookId);
  const again = await unfollow(octo);
  assert.is(again.errors?.[0]?.extensions?.code, 'PROJECT_NOT_FOLLOWED');

  const body = JSON.stringify({
    ref: 'refs/heads/main',
    after: repo.git('rev-parse', 'HEAD'),
    repository: { full_name: 'acme/widget' },
    sender: { login: 'octo', id: 501 },
  });
  const delivered = await fetch(`${gyre}/hooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': 'follow-2',
      'x-github-hook-id': String(hookId),
      'x-hub-signature-256': `sha256=${createHmac('sha256', hookSecret).update(body).digest('hex')}`,
    },
    body,
  });
  assert.is(delivered.status, 202);
  assert.match(((await delivered.json()) as { message: string }).message, /not followed/);

  // GitHub has lost the hook already (someone removed it by hand): a 404 is fine
  const refollowed = await follow(octo);
  assert.is(refollowed.errors, undefined, JSON.stringify(refollowed.errors));
  assert.is(refollowed.data!.createProject.followed, true);
  assert.is(hooksOf('acme/widget').length, 1);
  assert.is(refollowed.data!.createProject.settings.gitUrl, repo.dir, 'settings are kept');
  github.repos.hooks.set('acme/widget', []);
  const gone = await unfollow(octo);
  assert.is(gone.errors, undefined, JSON.stringify(gone.errors));

  // GitHub refusing the removal changes nothing
  assert.is((await follow(octo)).errors, undefined);
  github.repos.refuseHookDeletes.set('acme/widget', 403);
  const kept = await unfollow(octo);
  assert.is(kept.errors?.[0]?.extensions?.code, 'GITHUB_REFUSED');
  github.repos.refuseHookDeletes.delete('acme/widget');
  assert.is((await g.gql(`{ project(slug: "${slug}") { followed } }`)).body.data!.project.followed, true);
});

test('following again keeps the repository it was followed on; another git URL is refused, audited, nothing changed', async () => {
  const first = await follow(octo, 'gh/acme/alias', `${github.url}/acme/real.git`);
  assert.is(first.errors, undefined, JSON.stringify(first.errors));
  assert.is(first.data!.createProject.webhook.repository, 'acme/real');
  assert.is((await unfollow(octo, 'gh/acme/alias')).errors, undefined);
  assert.is(hooksOf('acme/real').length, 0);
  const other = await follow(octo, 'gh/acme/alias', `${github.url}/acme/other.git`);
  assert.is(other.errors?.[0]?.extensions?.code, 'GIT_URL_CHANGED', JSON.stringify(other.errors));
  assert.match(other.errors![0]!.message, `${github.url}/acme/real.git`);
  assert.is(hooksOf('acme/other').length, 0, 'GitHub was not asked');
  assert.is((await g.gql('{ project(slug: "gh/acme/alias") { followed } }')).body.data!.project.followed, false);
  await waitForAudit(g, (e) => e.action === 'project.create' && e.success === false && e.payload.code === 'GIT_URL_CHANGED');
  const again = await follow(octo, 'gh/acme/alias');
  assert.is(again.errors, undefined, JSON.stringify(again.errors));
  assert.equal([again.data!.createProject.webhook.repository, again.data!.createProject.settings.gitUrl], ['acme/real', `${github.url}/acme/real.git`]);
  assert.equal([hooksOf('acme/real').length, hooksOf('acme/alias').length], [1, 0], 'the webhook on the repository it follows, not the slug');
});

test('CircleCI API v1.1 follow and unfollow, with an API token of someone who signed in with GitHub', async () => {
  const created = await gqlAs(octo, 'mutation { createApiToken(label: "cli") { token } }');
  assert.is(created.errors, undefined, JSON.stringify(created.errors));
  const token = created.data!.createApiToken.token as string;
  const call = (path: string) => fetch(`${gyre}/api/v1.1/project/gh/acme/cli-followed/${path}`, { method: 'POST', headers: { 'circle-token': token } });
  const followed = await call('follow');
  assert.is(followed.status, 200, await followed.clone().text());
  assert.equal(await followed.json(), { following: true, workflow: true, first_build: null });
  assert.equal(
    hooksOf('acme/cli-followed').map((h) => h.by),
    ['octo'],
  );
  const unfollowed = await call('unfollow');
  assert.equal([unfollowed.status, await unfollowed.json()], [200, { following: false }]);
  assert.is(hooksOf('acme/cli-followed').length, 0);
  const anonymous = await fetch(`${gyre}/api/v1.1/project/gh/acme/cli-followed/follow`, { method: 'POST' });
  assert.is(anonymous.status, 401);
});

test('deleting a person destroys their data key: their GitHub token can no longer be opened', async () => {
  const leaver = await signIn({ id: 503, login: 'leaver', orgs: ['acme'] });
  assert.is((await follow(leaver, 'gh/acme/left')).errors, undefined);
  const id = (await g.gql('{ user(login: "leaver") { id } }')).body.data!.user.id as string;
  assert.match((await g.services.jobSecrets.githubToken(id))!, /^gho_/);
  const deleted = await g.gql('mutation { deleteUser(login: "leaver") }');
  assert.is(deleted.body.errors, undefined, JSON.stringify(deleted.body.errors));
  await until(
    'the key destroyed',
    async () =>
      (await g.services.jobSecrets.githubToken(id).then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    10_000,
  );
  // unfollowing their project: someone with no GitHub token is told to sign in; someone with one removes the webhook
  const tokenless = await g.gql('mutation { unfollowProject(slug: "gh/acme/left") { followed } }');
  assert.is(tokenless.body.errors?.[0]?.extensions?.code, 'GITHUB_TOKEN_REQUIRED', JSON.stringify(tokenless.body.errors));
  assert.is(hooksOf('acme/left').length, 1);
  const r = await unfollow(octo, 'gh/acme/left');
  assert.is(r.errors, undefined, JSON.stringify(r.errors));
  assert.is(hooksOf('acme/left').length, 0);
});

test('the GitHub tokens and webhook secrets appear nowhere: events, audit, API answers, logs', async () => {
  const secrets = [...github.repos.hooks.values()].flat().map((h) => h.config.secret);
  secrets.push(hookSecret, ...github.tokensIssued());
  assert.ok(secrets.length >= 3);
  const events = JSON.stringify(await loggedEvents(g));
  const audit = JSON.stringify(await g.services.db(auditLogProjection.tables.audit_events).select('record'));
  const answers = JSON.stringify(
    (await g.gql(`{ projects { edges { node { slug settings { webhookSecret gitUrl } webhook { repository hookId followedBy } } } } }`)).body,
  );
  const outbox = JSON.stringify(await g.services.db('github_status_outbox').select());
  for (const secret of secrets) {
    for (const [where, text] of Object.entries({ events, audit, answers, outbox, logs: logs.join('\n') }))
      assert.not.ok(text.includes(secret), `a secret in ${where}`);
  }
});

test.run();

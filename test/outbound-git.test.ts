// runs on the embedded database only: git, its hosts and its quotas are its subject
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGitHttp } from './support/git-http.ts';
import { gitRepo } from './support/git-repo.ts';
import { freePort } from './support/ports.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { finished, ok, until } from './support/jobs.ts';
import { createGit, defaultGitLimits } from '../adapters/git/cli.ts';
import { GitError } from '../adapters/git/port.ts';

/**
 * Where Gyre's git fetches go and what they may cost, through the real server: a member points a
 * project only at the GitHub host or a host the operator allows, learns nothing of Gyre's network
 * from git's errors, and neither a huge repository nor many triggers at once outgrow their limits.
 * Repositories are served over git's dumb HTTP protocol by a slow stand-in on 127.0.0.1.
 */
const test = suite('outbound git: allowed hosts, errors without network details, mirror quota, fetches at once');
const slowMs = 400;
let g: TestGyre;
let server: Awaited<ReturnType<typeof startGitHttp>>;
let dev: { authorization: string };
let redirects: Awaited<ReturnType<typeof startRedirect>>;
const config = 'version: 2.1\njobs: {build: {docker: [{image: alpine}], steps: [checkout]}}\nworkflows: {main: {jobs: [build]}}\n';

/**
 * An allowed host that answers every request with a redirect to another server on 127.0.0.1, and
 * that other server, which counts the connections it is sent.
 */
const startRedirect = async () => {
  let contacted = 0;
  const inside = createServer((_req, res) => void res.writeHead(404).end());
  inside.on('connection', () => void contacted++);
  await new Promise<void>((resolve) => inside.listen(0, '127.0.0.1', resolve));
  const insidePort = (inside.address() as { port: number }).port;
  let asked = 0;
  const outside = createServer((req, res) => {
    asked++;
    res.writeHead(req.url?.endsWith('service=git-upload-pack') ? 302 : 301, { location: `http://127.0.0.1:${insidePort}${req.url}` }).end();
  });
  await new Promise<void>((resolve) => outside.listen(0, '127.0.0.1', resolve));
  const port = (outside.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/moved.git`,
    asked: () => asked,
    contacted: () => contacted,
    close: async () => {
      for (const s of [inside, outside]) {
        s.closeAllConnections();
        await new Promise((resolve) => s.close(resolve));
      }
    },
  };
};

const follow = (slug: string, gitUrl: string, headers?: Record<string, string>) =>
  g.gql('mutation($slug: String!, $gitUrl: String) { createProject(input: {slug: $slug, gitUrl: $gitUrl}) { slug } }', { slug, gitUrl }, headers);
const trigger = (slug: string, headers?: Record<string, string>) =>
  g.gql('mutation($slug: String!) { triggerPipeline(input: {projectSlug: $slug}) { id } }', { slug }, headers);

test.before(async () => {
  server = await startGitHttp({ slowMs });
  redirects = await startRedirect();
  g = await startTestGyre({
    GYRE_GIT_ALLOWED_HOSTS: `127.0.0.1:${server.port},127.0.0.1:${redirects.port}`,
    GYRE_GIT_MIRROR_QUOTA_MB: '1',
    GYRE_GIT_FETCH_CONCURRENCY: '2',
  });
  dev = { authorization: `Bearer ${(await g.createUser('dev', { orgs: ['acme'] })).token}` };
});
test.after(async () => {
  await g.stop();
  await server.close();
  await redirects.close();
});

test("a member's git URL on a host no one allowed is refused, naming the rule, audited, and changes nothing", async () => {
  const r = await follow('gh/acme/probe', 'http://127.0.0.1:22/x.git', dev);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'GIT_HOST_NOT_ALLOWED', JSON.stringify(r.body.errors));
  assert.match(r.body.errors![0]!.message, /GitHub host github\.com or a host an admin allows .*GYRE_GIT_ALLOWED_HOSTS/);
  assert.is((await g.gql('{ project(slug: "gh/acme/probe") { id } }')).body.data!.project, null);
  const audited = await waitForAudit(g, (e) => e.action === 'project.create' && e.success === false && e.payload.code === 'GIT_HOST_NOT_ALLOWED');
  assert.is(audited.length, 1);

  const repo = gitRepo();
  repo.commit(config, 'first');
  const url = server.serve('fine', repo.dir);
  assert.is((await follow('gh/acme/fine', url, dev)).body.errors, undefined);
  const moved = await g.gql('mutation { updateProjectSettings(slug: "gh/acme/fine", input: {gitUrl: "ssh://git@127.0.0.1:22/x.git"}) { id } }', {}, dev);
  assert.is(moved.body.errors?.[0]?.extensions?.code, 'GIT_HOST_NOT_ALLOWED');
  const project = await g.gql('{ project(slug: "gh/acme/fine") { settings { gitUrl } } }');
  assert.is(project.body.data!.project.settings.gitUrl, url);
});

test("a member's trigger on an allowed host fetches and starts the pipeline", async () => {
  const r = await trigger('gh/acme/fine', dev);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  assert.ok(r.body.data!.triggerPipeline.id);
});

test("git's errors tell a member nothing of Gyre's network; an admin sees what git said", async () => {
  const closed = await freePort();
  const answers: string[] = [];
  // an admin may point a project anywhere: at a port nothing listens on, and at one where something does (not git)
  for (const [name, url] of [
    ['closed', `http://127.0.0.1:${closed}/x.git`],
    ['open', `http://127.0.0.1:${server.port}/nothing-here.git`],
  ]) {
    assert.is((await follow(`gh/acme/${name}`, url!)).body.errors, undefined);
    const r = await trigger(`gh/acme/${name}`, dev);
    assert.is(r.body.errors?.[0]?.extensions?.code, 'GIT_FAILED');
    answers.push(r.body.errors![0]!.message);
    const admin = await trigger(`gh/acme/${name}`);
    assert.match(admin.body.errors![0]!.message, /could not fetch the repository.*git fetch failed: /);
  }
  assert.is(answers[0], answers[1], 'a closed port and an open one answer alike');
  assert.match(answers[0]!, /^could not fetch the repository/);
  assert.not.match(answers[0]!, /127\.0\.0\.1|refused|connect|port|\d{2,5}|fatal|404/i);
  const admin = await trigger('gh/acme/closed');
  assert.match(admin.body.errors![0]!.message, /127\.0\.0\.1/);
});

test('a repository larger than the mirror quota fails clearly and leaves no mirror', async () => {
  const repo = gitRepo();
  writeFileSync(join(repo.dir, 'big.bin'), randomBytes(3 * 1024 * 1024));
  repo.commit(config, 'big');
  const url = server.serve('big', repo.dir);
  assert.is((await follow('gh/acme/big', url, dev)).body.errors, undefined);
  const r = await trigger('gh/acme/big', dev);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'GIT_FAILED');
  assert.match(r.body.errors![0]!.message, /larger than the mirror quota of 1 MB \(GYRE_GIT_MIRROR_QUOTA_MB\)/);
  const mirror = join(g.dataDir, 'repos', `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`);
  assert.not.ok(existsSync(mirror), 'the partial mirror is removed');
});

test('fetches at once stay within GYRE_GIT_FETCH_CONCURRENCY; the others wait their turn and succeed', async () => {
  const slugs: string[] = [];
  for (let i = 0; i < 5; i++) {
    const repo = gitRepo();
    repo.commit(config, `repo ${i}`);
    slugs.push(`gh/acme/many-${i}`);
    assert.is((await follow(slugs[i]!, server.serve(`many-${i}`, repo.dir), dev)).body.errors, undefined);
  }
  server.mostAtOnce();
  const results = await Promise.all(slugs.map((slug) => trigger(slug, dev)));
  for (const r of results) assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  assert.is(server.mostAtOnce(), 2);
});

test("an allowed host's redirect is not followed: git never reaches the address it names, a trigger's fetch nor a checkout", async () => {
  assert.is((await follow('gh/acme/moved', redirects.url, dev)).body.errors, undefined);
  const r = await trigger('gh/acme/moved', dev);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'GIT_FAILED', JSON.stringify(r.body.errors));
  assert.match(r.body.errors![0]!.message, /^could not fetch the repository/);
  const home = mkdtempSync(join(tmpdir(), 'gyre-git-home-'));
  try {
    const into = join(home, 'checkout');
    const e = await createGit(home)
      .checkout(redirects.url, 'a'.repeat(40), into)
      .catch((e: unknown) => e);
    assert.instance(e, GitError);
    assert.not.ok(existsSync(into), 'a failed checkout leaves no directory');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  assert.ok(redirects.asked() >= 2, 'git asked the allowed host');
  assert.is(redirects.contacted(), 0, 'and never connected to where it redirected');
});

test.run();

/**
 * Jobs' checkouts and the mirrors together, through the git adapter itself: checkouts wait their
 * turn with the mirrors' fetches and are held to the same quota, the mirrors all together to theirs.
 */
const adapter = suite("git's checkouts and all mirrors together: fetches at once, the quotas");
let home: string;
let git: ReturnType<typeof createGit>;
const mb = 1024 * 1024;
/** A repository with a file of random bytes (which no compression shrinks) on its main branch. */
const repoOf = (name: string, bytes: number) => {
  const repo = gitRepo();
  writeFileSync(join(repo.dir, 'data.bin'), randomBytes(bytes));
  const revision = repo.commit(config, name);
  return { repo, revision, url: server.serve(name, repo.dir) };
};
const inDir = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
adapter.before(async () => {
  server = await startGitHttp({ slowMs });
});
adapter.before.each(() => {
  home = mkdtempSync(join(tmpdir(), 'gyre-git-home-'));
  git = createGit(join(home, 'repos'), { mirrorQuotaBytes: 1 * mb, mirrorsQuotaBytes: 1.5 * mb, fetchConcurrency: 2 });
});
adapter.after.each(() => rmSync(home, { recursive: true, force: true }));
adapter.after(() => server.close());

adapter('checkouts wait their turn within the fetches at once, and each is its revision with origin the real URL', async () => {
  const repos = Array.from({ length: 5 }, (_, i) => repoOf(`co-${i}`, 1000));
  server.mostAtOnce();
  await Promise.all(repos.map((r, i) => git.checkout(r.url, r.revision, join(home, `co-${i}`))));
  assert.is(server.mostAtOnce(), 2);
  for (const [i, r] of repos.entries()) {
    assert.is(inDir(join(home, `co-${i}`), 'rev-parse', 'HEAD'), r.revision);
    assert.is(inDir(join(home, `co-${i}`), 'remote', 'get-url', 'origin'), r.url);
    assert.is(inDir(join(home, `co-${i}`), 'rev-parse', 'origin/main'), r.revision);
  }
});

adapter("a checkout is taken from the server's mirror when it has the revision, else from the repository", async () => {
  const r = repoOf('mirrored', 1000);
  await git.read(r.url, { branch: 'main' });
  server.mostAtOnce();
  const first = join(home, 'first');
  await git.checkout(r.url, r.revision, first);
  assert.is(server.mostAtOnce(), 0, 'the git host was not asked again');
  assert.is(inDir(first, 'rev-parse', 'HEAD'), r.revision);
  assert.is(inDir(first, 'remote', 'get-url', 'origin'), r.url);
  assert.is(inDir(first, 'rev-parse', 'origin/main'), r.revision);

  // pushed after the mirror was fetched: not in it
  const later = r.repo.commit(config, 'later');
  server.serve('mirrored', r.repo.dir);
  const second = join(home, 'second');
  await git.checkout(r.url, later, second);
  assert.is(server.mostAtOnce(), 1);
  assert.is(inDir(second, 'rev-parse', 'HEAD'), later);
  assert.is(inDir(second, 'remote', 'get-url', 'origin'), r.url);
});

adapter('a checkout larger than the quota fails clearly and leaves no directory, from the mirror or not', async () => {
  // its pack fits the quota; with its files written out it does not
  const r = repoOf('wide', 0.7 * mb);
  for (const mirrored of [false, true]) {
    if (mirrored) await git.read(r.url, { branch: 'main' });
    const into = join(home, `wide-${mirrored}`);
    const e = await git.checkout(r.url, r.revision, into).catch((e: unknown) => e);
    assert.instance(e, GitError);
    assert.is((e as GitError).reason, 'too-large');
    assert.match((e as GitError).message, /larger than the mirror quota of 1 MB \(GYRE_GIT_MIRROR_QUOTA_MB\): its checkout was removed/);
    assert.not.ok(existsSync(into), 'the partial checkout is removed');
  }
});

adapter('mirrors together stay within their quota: the least recently used go, and a read that cannot fit fails clearly', async () => {
  const [a, b, c] = ['lru-a', 'lru-b', 'lru-c'].map((name) => repoOf(name, 0.6 * mb));
  const mirrorOf = (url: string) => `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`;
  const mirrors = () => readdirSync(join(home, 'repos')).filter((n) => n.endsWith('.git'));
  await git.read(a!.url, { branch: 'main' });
  await git.read(b!.url, { branch: 'main' });
  assert.equal(mirrors().sort(), [mirrorOf(a!.url), mirrorOf(b!.url)].sort());
  await git.read(c!.url, { branch: 'main' });
  assert.equal(mirrors().sort(), [mirrorOf(b!.url), mirrorOf(c!.url)].sort(), 'a, used least recently, made room');
  // b read again is the most recently used: c makes room for a
  await git.read(b!.url, { branch: 'main' });
  assert.is((await git.read(a!.url, { branch: 'main' })).revision, a!.revision);
  assert.equal(mirrors().sort(), [mirrorOf(a!.url), mirrorOf(b!.url)].sort());

  const small = createGit(join(home, 'small'), { ...defaultGitLimits, mirrorsQuotaBytes: 0.5 * mb });
  const e = await small.read(a!.url, { branch: 'main' }).catch((e: unknown) => e);
  assert.instance(e, GitError);
  assert.is((e as GitError).reason, 'too-large');
  assert.match((e as GitError).message, /mirrors would take more than their quota of 0\.5 MB together \(GYRE_GIT_MIRRORS_QUOTA_MB\)/);
  assert.equal(readdirSync(join(home, 'small')), [], 'its partial mirror is removed');
});

adapter.run();

/**
 * A job's checkout by the server's own agent, on this host: from the server's mirror (the git host
 * is asked once, by the trigger), and held to the quota, the step failing with the quota's message.
 */
const jobs = suite("a job's checkout by the server's local agent: from the mirror, within the quota");
const machineConfig = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run: test "$(git remote get-url origin)" = "$CIRCLE_REPOSITORY_URL" && test "$(git rev-parse HEAD)" = "$CIRCLE_SHA1"
workflows: {main: {jobs: [build]}}
`;
jobs.before(async () => {
  server = await startGitHttp({ slowMs });
  g = await startTestGyre({
    GYRE_LOCAL_AGENT: 'true',
    GYRE_LOCAL_MACHINE_JOBS: 'true',
    GYRE_GIT_ALLOWED_HOSTS: `127.0.0.1:${server.port}`,
    GYRE_GIT_MIRROR_QUOTA_MB: '1',
  });
  dev = { authorization: `Bearer ${(await g.createUser('dev', { orgs: ['acme'] })).token}` };
});
jobs.after(async () => {
  await g.stop();
  await server.close();
});
/** A member's project of a repository with `bytes` of random data, triggered; answers its workflow once it ended, and its job's id. */
const built = async (name: string, bytes: number) => {
  const repo = gitRepo();
  writeFileSync(join(repo.dir, 'data.bin'), randomBytes(bytes));
  repo.commit(machineConfig, name);
  await ok(
    g,
    'mutation($slug: String!, $gitUrl: String) { createProject(input: {slug: $slug, gitUrl: $gitUrl}) { slug } }',
    { slug: `gh/acme/${name}`, gitUrl: server.serve(name, repo.dir) },
    dev,
  );
  const p = await ok(
    g,
    'mutation($slug: String!) { triggerPipeline(input: {projectSlug: $slug}) { workflows { id jobs { id } } } }',
    { slug: `gh/acme/${name}` },
    dev,
  );
  const asked = server.mostAtOnce();
  const w = await finished(g, p.triggerPipeline.workflows[0].id);
  return { w, asked, jobId: p.triggerPipeline.workflows[0].jobs[0].id as string };
};

jobs("the checkout is the trigger's revision with origin the repository's URL, taken from the server's mirror", async () => {
  const { w, asked } = await built('small', 1000);
  assert.is(asked, 1, "the trigger's read fetched the repository");
  assert.is(w.byName.build!.status, 'success');
  assert.is(server.mostAtOnce(), 0, 'the checkout did not fetch from the git host again');
});

jobs('a checkout larger than the quota fails its step, saying so', async () => {
  // its pack fits the mirror quota; its files written out as well do not
  const { w, jobId } = await built('wide', 0.7 * 1024 * 1024);
  assert.is(w.byName.build!.status, 'failed');
  const said = await until('the checkout step to say why', async () => (await g.services.output.read({ jobId, taskIndex: 0, stepIndex: 1 })) ?? undefined);
  assert.match(said, /larger than the mirror quota of 1 MB \(GYRE_GIT_MIRROR_QUOTA_MB\): its checkout was removed/);
});

jobs.run();

import { createHmac, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGyre, type Gyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { masterKeyFile } from '../adapters/encryption/master-keys.ts';
import { testDatabase } from './support/database.ts';
import { gitRepo } from './support/git-repo.ts';
import { browser, startGitHubStandIn } from './support/github-standin.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { parkedConfig } from './support/jobs.ts';
import { freePort } from './support/ports.ts';

/**
 * GitHub's deliveries over real HTTP to a real Gyre: the project is found from the path (a webhook set
 * up by hand) or the webhook Gyre registered on a stand-in GitHub before the body is read (a delivery
 * addressed to none is refused unread), the signature is checked over the raw bytes before it is
 * parsed, the same signed body sent again under a new delivery id starts nothing (on another server
 * of the same database too), and the sender is matched to an account by GitHub user id.
 */
const test = suite('webhook deliveries: found unread, signed before parsed, received once per body, senders by GitHub id');
const slug = 'gh/hooks/app';
const secret = randomBytes(24).toString('hex');
let g: TestGyre;
let base = '';
/** Another server of the same database: its data directory (holding the same master key), its address. */
type Server = { gyre: Gyre; dir: string; base: string };
/**
 * A second server: a replay sent to it is recognised too; it holds delivery bodies of `inFlight` bytes at once, and waits
 * for a delivery's body for a second only.
 */
let second: Server;
/** A third, holding delivery bodies of `inFlight` bytes at once, that waits for a body as long as Gyre does by default. */
let bounded: Server;
let repo: ReturnType<typeof gitRepo>;
let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
const client = { id: 'gyre-hooks', secret: 'canary-client-secret-hooks' };
/** The webhook Gyre registered on the stand-in GitHub when octo followed gh/acme/hooked. */
let hook = { id: 0, secret: '' };
/** The deliveries whose body is never sent (`unsent`), until they end. */
const unsentDeliveries = new Set<ClientRequest>();
const MB = 1024 * 1024;
/** The delivery bodies the second and third servers hold at once: small, so that real bodies reach it. */
const inFlight = 4 * MB;

const parked = parkedConfig('hooks');

const ok = async (query: string, variables: Record<string, unknown> = {}) => {
  const r = await g.gql(query, variables);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data as any;
};
const sign = (body: Buffer | string, key = secret) => `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
let deliveries = 0;
/** Posts a delivery as GitHub does to a webhook set up by hand: the project's slug in the path. */
const deliver = async (event: string, body: string, o: { delivery?: string; to?: string; signature?: string } = {}) => {
  const delivery = o.delivery ?? `hooks-${++deliveries}-${randomBytes(4).toString('hex')}`;
  const r = await fetch(`${o.to ?? base}/hooks/github/${slug}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': delivery, 'x-hub-signature-256': o.signature ?? sign(body) },
    body,
  });
  return { status: r.status, body: (await r.json()) as any, delivery };
};
const pushOf = (ref: string, after: string, sender = { login: 'dev', id: 7001 }) =>
  JSON.stringify({ ref, before: '0'.repeat(40), after, deleted: false, head_commit: { id: after, timestamp: new Date().toISOString() }, sender });
const pipelineCount = async () => (await ok(`{ pipelines(projectSlug: "${slug}", first: 100) { edges { node { id } } } }`)).pipelines.edges.length as number;
/** Another Gyre on the test database, opening the same sealed secrets (the same master key), listening. */
const sameDatabase = async (env: Record<string, string>): Promise<Server> => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-second-'));
  copyFileSync(masterKeyFile(g.dataDir), masterKeyFile(dir));
  // the tests that count refusals send more than a minute's budget of them from one address
  const budget = { GYRE_AUDIT_REFUSALS_PER_SOURCE: '100000', GYRE_AUDIT_REFUSALS_PER_MINUTE: '1000000' };
  const gyre = await createGyre(loadConfig({ GYRE_DATA_DIR: dir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', ...budget, ...env }), {
    db: testDatabase(),
    logger: false,
  });
  return { gyre, dir, base: await gyre.app.listen({ port: 0, host: '127.0.0.1' }) };
};
const actorOf = async (id: string) => (await ok('query($id: ID!) { pipeline(id: $id) { trigger { actor { login } } } }', { id })).pipeline.trigger.actor.login;

test.before(async () => {
  github = await startGitHubStandIn(client);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  g = await startTestGyre({
    GYRE_GITHUB_URL: github.url,
    GYRE_GITHUB_CLIENT_ID: client.id,
    GYRE_GITHUB_CLIENT_SECRET: client.secret,
    GYRE_PUBLIC_URL: base,
  });
  await g.app.listen({ port, host: '127.0.0.1' });
  // the second takes a delivery's body for a second only: the slow sender's test sends to it
  second = await sameDatabase({ GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT: String(inFlight), GYRE_WEBHOOK_BODY_TIMEOUT_MS: '1000' });
  bounded = await sameDatabase({ GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT: String(inFlight) });
  repo = gitRepo();
  repo.commit(parked, 'first');
  await g.createUser('dev', { orgs: ['hooks'], githubId: 7001 });
  await ok(`mutation($u: String!) { createProject(input: {slug: "${slug}", gitUrl: $u}) { id } }`, { u: repo.dir });
  await ok('mutation($s: String!, $k: String!) { updateProjectSettings(slug: $s, input: {webhookSecret: $k}) { slug } }', { s: slug, k: secret });
  // octo signs in with GitHub and follows a repository there: Gyre registers its webhook
  github.state.signingIn = { id: 501, login: 'octo', name: 'octo', orgs: ['acme'] };
  const octo = browser();
  assert.is((await octo.visit(`${base}/auth/github`)).url, `${base}/`);
  const { res } = await octo.visit(`${base}/graphql`, {
    method: 'POST',
    headers: { origin: base, 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { createProject(input: {slug: "gh/acme/hooked"}) { webhook { hookId } } }' }),
  });
  const followed = (await res.json()) as any;
  assert.is(followed.errors, undefined, JSON.stringify(followed.errors));
  const [registered] = github.repos.hooks.get('acme/hooked') ?? [];
  hook = { id: registered!.id, secret: registered!.config.secret };
  assert.is(followed.data.createProject.webhook.hookId, String(hook.id));
});
test.after(async () => {
  // a test that failed midway leaves its deliveries open: the servers would wait for them
  for (const sent of unsentDeliveries) sent.destroy();
  for (const other of [second, bounded]) {
    await other.gyre.close();
    rmSync(other.dir, { recursive: true, force: true });
  }
  await g.stop();
  await github.close();
  repo.remove();
});

/**
 * A 25 MB forgery posted from a process of its own (as an outsider sends it: the sending costs this
 * server nothing): GitHub's largest delivery, valid JSON of many small objects (parsing it takes most
 * of a second and some hundreds of MB), signed with a key that is not the secret. It says whether the
 * whole body had been handed to the network when the answer came (`uploaded`); a body of unknown
 * length (`CHUNKED`) is sent in chunks.
 */
const forger = `
const { createHmac } = require('node:crypto');
const { request } = require('node:http');
const size = 25 * 1024 * 1024;
const commit = JSON.stringify({ id: 'a'.repeat(40), message: 'm', added: ['f'], author: { name: 'n' } });
const body = Buffer.alloc(size, ' ');
const head = '{"ref":"refs/heads/main","commits":[';
let at = body.write(head);
while (at + commit.length + 3 < size) at += body.write(at === head.length ? commit : ',' + commit, at);
body.write(']}', at);
const signature = 'sha256=' + createHmac('sha256', 'not-the-secret').update(body).digest('hex');
const chunked = process.env.CHUNKED === '1';
const started = performance.now();
let uploaded = false;
const req = request(process.env.TO, { method: 'POST', headers: {
  'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(size) }), 'x-github-event': 'push',
  'x-github-delivery': process.env.TRACE, 'x-client-trace-id': process.env.TRACE, 'x-hub-signature-256': signature,
  ...JSON.parse(process.env.HEADERS || '{}') } }, (res) => {
  const answered = { status: res.statusCode, ms: performance.now() - started, size, uploaded, connection: res.headers.connection };
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c) => { text += c; });
  res.on('end', () => { console.log(JSON.stringify({ ...answered, text })); process.exit(0); });
});
req.on('finish', () => { uploaded = true; });
// a server that answers before reading the body may end the connection while the rest is sent
req.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
if (chunked) for (let i = 0; i < size; i += 1024 * 1024) req.write(body.subarray(i, i + 1024 * 1024));
req.end(chunked ? undefined : body);
`;
const forge = (to: string, trace: string, o: { headers?: Record<string, string>; chunked?: boolean } = {}) =>
  new Promise<{ status: number; ms: number; size: number; text: string; uploaded: boolean; connection?: string; error?: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', forger], {
      env: { TO: to, TRACE: trace, HEADERS: JSON.stringify(o.headers ?? {}), CHUNKED: o.chunked ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the forger exited ${code}`))));
  });

test('a 25 MB delivery with a bad signature is refused 401 fast, unparsed, audited once; /healthz answers meanwhile', async () => {
  const trace = `big-forgery-${randomBytes(4).toString('hex')}`;
  const before = await pipelineCount();
  // the server runs in this process: a parse of the body would pass through JSON.parse here
  const parse = JSON.parse;
  let bodyParses = 0;
  JSON.parse = (text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
    if (text.length >= 1024 * 1024) bodyParses++;
    return parse(text, reviver);
  };
  const rss = { start: process.memoryUsage().rss, peak: 0 };
  const sample = setInterval(() => {
    rss.peak = Math.max(rss.peak, process.memoryUsage().rss);
  }, 5);
  let answered = false;
  const forged = forge(`${base}/hooks/github/${slug}`, trace).finally(() => {
    answered = true;
  });
  // /healthz, asked over and over while the delivery is sent and refused
  const health: number[] = [];
  do {
    const t = performance.now();
    const h = await fetch(`${base}/healthz`);
    await h.arrayBuffer();
    assert.is(h.status, 200);
    health.push(performance.now() - t);
  } while (!answered);
  const r = await forged.finally(() => {
    JSON.parse = parse;
  });
  clearInterval(sample);
  rss.peak = Math.max(rss.peak, process.memoryUsage().rss);
  assert.is(r.size, 25 * 1024 * 1024);
  assert.is(r.status, 401, r.text);
  assert.is(JSON.parse(r.text).code, 'WEBHOOK_SIGNATURE_INVALID');
  assert.is(bodyParses, 0, 'the body was parsed before its signature was checked');
  assert.ok(r.ms < 1500, `refused in ${Math.round(r.ms)} ms`);
  const grown = (rss.peak - rss.start) / 1024 / 1024;
  // the body held once or twice (its chunks and their join), never a parse of it
  assert.ok(grown < 100, `RSS grew ${Math.round(grown)} MB`);
  // a parse blocks the server for most of a second; what is left is at most a pause of the garbage collector (this process holds the whole test run)
  const sorted = [...health].sort((a, b) => a - b);
  const [median, slowest] = [sorted[Math.floor(sorted.length / 2)]!, sorted[sorted.length - 1]!];
  assert.ok(median < 100 && slowest < 1000, `/healthz took ${Math.round(median)} ms (median), up to ${Math.round(slowest)} ms (${health.length} asked)`);
  const refused = await waitForAudit(g, (e) => e.success === false && e.request?.client_trace_id === trace);
  assert.is(refused.length, 1);
  assert.equal([refused[0]!.action, refused[0]!.actor.type, refused[0]!.payload.code], ['pipeline.create', 'github_webhook', 'WEBHOOK_SIGNATURE_INVALID']);
  await g.services.settled();
  assert.is((await waitForAudit(g, (e) => e.request?.client_trace_id === trace, 2, 300)).length, 1, 'one event for one refusal');
  assert.is(await pipelineCount(), before);
});

/** Samples this process's memory (the server's) until stopped: how much its RSS and Buffers grew at their peak, in MB. */
const memoryGrowth = () => {
  const start = process.memoryUsage();
  const peak = { rss: start.rss, arrayBuffers: start.arrayBuffers };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  };
  const timer = setInterval(sample, 2);
  return () => {
    clearInterval(timer);
    sample();
    return { rss: (peak.rss - start.rss) / 1024 / 1024, buffers: (peak.arrayBuffers - start.arrayBuffers) / 1024 / 1024 };
  };
};

test('a 25 MB delivery addressed to no project is refused before its body is read: answered mid-upload, unbuffered, audited once', async () => {
  const unaddressed: Array<{ to: string; headers: Record<string, string>; chunked?: boolean; status: number; said: string }> = [
    { to: '/hooks/github', headers: {}, status: 400, said: 'names no webhook Gyre registered (X-GitHub-Hook-ID)' },
    { to: '/hooks/github', headers: { 'x-github-hook-id': '12ab' }, status: 400, said: 'X-GitHub-Hook-ID must be' },
    { to: '/hooks/github', headers: { 'x-github-hook-id': '987654321' }, status: 401, said: 'X-Hub-Signature-256 does not match' },
    { to: '/hooks/github', headers: { 'x-github-hook-id': '987654322' }, chunked: true, status: 401, said: 'X-Hub-Signature-256 does not match' },
    { to: '/hooks/github/gh/hooks/unknown', headers: {}, status: 401, said: 'X-Hub-Signature-256 does not match' },
    // Gyre's webhook is on a repository: the same hook id said to be on an organization is not GitHub's
    {
      to: '/hooks/github',
      headers: { 'x-github-hook-id': String(hook.id), 'x-github-hook-installation-target-type': 'organization' },
      status: 401,
      said: 'X-Hub-Signature-256 does not match',
    },
  ];
  const before = await pipelineCount();
  for (const [i, d] of unaddressed.entries()) {
    const trace = `unaddressed-${i}-${randomBytes(4).toString('hex')}`;
    const grown = memoryGrowth();
    const r = await forge(`${base}${d.to}`, trace, d);
    const memory = grown();
    const what = `${d.to} ${JSON.stringify(d.headers)}${d.chunked ? ' chunked' : ''}`;
    assert.is(r.error, undefined, `${what}: the answer was lost (${r.error})`);
    assert.is(r.status, d.status, `${what}: ${r.text}`);
    assert.match(JSON.parse(r.text).message, d.said, what);
    // the body was not read: the answer came while most of it was still to be sent, and the connection ends
    assert.is(r.uploaded, false, `${what}: the whole body was taken before the answer`);
    assert.is(r.connection, 'close', what);
    assert.ok(r.ms < 1500, `${what}: refused in ${Math.round(r.ms)} ms`);
    // buffering the body would hold 25 MB of it, twice over once joined
    assert.ok(memory.buffers < 8 && memory.rss < 40, `${what}: Buffers grew ${memory.buffers.toFixed(1)} MB, RSS ${memory.rss.toFixed(1)} MB`);
    const refused = await waitForAudit(g, (e) => e.success === false && e.request?.client_trace_id === trace);
    assert.equal(
      [refused.length, refused[0]!.action, refused[0]!.actor.type, refused[0]!.payload.status],
      [1, 'pipeline.create', 'github_webhook', d.status],
      what,
    );
  }
  await g.services.settled();
  assert.is(await pipelineCount(), before);
  // a small unaddressed body is read off and dropped: the connection stays usable
  const small = await fetch(`${base}/hooks/github`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"zen":"small"}' });
  assert.equal([small.status, small.headers.get('connection')], [400, 'keep-alive']);
});

test('the webhook Gyre registered takes deliveries naming its repository, or not naming what it is on (hooks of older GitHub servers)', async () => {
  const ping = async (headers: Record<string, string>) => {
    const body = JSON.stringify({ zen: randomBytes(8).toString('hex'), hook_id: hook.id });
    const r = await fetch(`${base}/hooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-github-hook-id': String(hook.id),
        'x-hub-signature-256': sign(body, hook.secret),
        ...headers,
      },
      body,
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  assert.equal(await ping({ 'x-github-hook-installation-target-type': 'repository', 'x-github-hook-installation-target-id': '4242' }), {
    status: 200,
    body: { message: 'pong' },
  });
  assert.equal(await ping({}), { status: 200, body: { message: 'pong' } });
  assert.is((await ping({ 'x-github-hook-installation-target-type': 'integration' })).status, 401);
});

test('an unsigned body is never parsed: invalid JSON with no signature is 401, not 400', async () => {
  const r = await deliver('push', '{"ref": ', { signature: '' });
  assert.is(r.status, 401);
  const signed = await deliver('push', '{"ref": ');
  assert.is(signed.status, 400);
  assert.match(signed.body.message, 'not valid JSON');
});

test('a delivery at /hooks/github/{vcs}/{org}/{repo} signed with the project secret starts a pipeline; another project there is 401', async () => {
  const sha = repo.commit(parked, 'pushed');
  const r = await deliver('push', pushOf('refs/heads/main', sha));
  assert.is(r.status, 201, JSON.stringify(r.body));
  const p = (await ok('query($id: ID!) { pipeline(id: $id) { trigger { type } vcs { revision branch } } }', { id: r.body.id })).pipeline;
  assert.equal(p, { trigger: { type: 'webhook' }, vcs: { revision: sha, branch: 'main' } });
  const body = pushOf('refs/heads/main', sha);
  const elsewhere = await fetch(`${base}/hooks/github/gh/hooks/unknown`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': sign(body) },
    body,
  });
  assert.is(elsewhere.status, 401, 'an unknown project answers as a bad signature does');
});

test('the same signed body sent again with a new delivery id starts nothing, on this server or another, and answers as a replay', async () => {
  // a tag push starts a pipeline every time it is told: only the body tells the replay
  const sha = repo.commit(parked, 'tagged');
  repo.git('tag', 'v1.0.0', sha);
  const body = pushOf('refs/tags/v1.0.0', sha);
  const receipt = (e: Record<string, any>) => e.action === 'webhook_delivery.receive' && e.success === true;
  const received = (await waitForAudit(g, receipt, 0)).length;
  const first = await deliver('push', body);
  assert.is(first.status, 201, JSON.stringify(first.body));
  const count = await pipelineCount();
  for (const to of [base, second.base]) {
    const replayed = await deliver('push', body, { to });
    assert.is(replayed.status, 200, JSON.stringify(replayed.body));
    assert.match(replayed.body.message, 'received before');
    assert.is(replayed.body.id, first.body.id);
  }
  // at once, from both servers: one of them starts it
  const racing = pushOf('refs/tags/v1.0.0', sha, { login: 'dev', id: 7001 });
  const told = await Promise.all([deliver('push', racing), deliver('push', racing, { to: second.base }), deliver('push', racing)]);
  assert.equal(told.map((t) => t.status).sort(), [200, 200, 201], JSON.stringify(told.map((t) => t.body)));
  assert.is(await pipelineCount(), count + 1);
  assert.is((await waitForAudit(g, receipt, received + 2)).length, received + 2, 'one receipt per signed body');
});

test('the sender is matched to an account by GitHub user id: a renamed login is still its account, a login taken by someone else is not', async () => {
  const renamed = await deliver('push', pushOf('refs/heads/main', repo.commit(parked, 'renamed'), { login: 'dev-renamed', id: 7001 }));
  assert.is(renamed.status, 201, JSON.stringify(renamed.body));
  assert.is(await actorOf(renamed.body.id), 'dev');
  // someone else took the login "dev" on GitHub: they are not Gyre's dev, and their pipeline runs for nobody
  const impostor = await deliver('push', pushOf('refs/heads/main', repo.commit(parked, 'impostor'), { login: 'dev', id: 9009 }));
  assert.is(impostor.status, 201, JSON.stringify(impostor.body));
  assert.is(await actorOf(impostor.body.id), 'github:9009');
  const stranger = await deliver('push', pushOf('refs/heads/main', repo.commit(parked, 'stranger'), { login: 'someone', id: 9010 }));
  assert.is(await actorOf(stranger.body.id), 'someone');
});

/** Rejects once `ms` have passed without `p` settling: a deadline for a signal, never a wait. */
const within = <T>(ms: number, p: Promise<T>, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
};

/**
 * A delivery to the project's slug that says it is `length` bytes long (null: sent in chunks, of no
 * length) and sends the first `send` bytes of its body only (1 KB unless told), until aborted: its
 * answer, if one comes before its body, and the server's side of it (this process is the server).
 */
const unsent = (trace: string, length: number | null, o: { headers?: Record<string, string>; to?: { gyre: Gyre; base: string }; send?: number } = {}) => {
  const to = o.to ?? { gyre: g, base };
  /** Whether the server began to read the body, the bytes of it it has had, and who waits for what. */
  let reading = false;
  let received = 0;
  const waiting = new Set<() => void>();
  const server = new Promise<{ req: IncomingMessage; res: ServerResponse }>((resolve) => {
    const seen = (req: IncomingMessage, res: ServerResponse) => {
      if (req.headers['x-client-trace-id'] !== trace) return;
      to.gyre.app.server.off('request', seen);
      // sees the body read, and counts its chunks as the request hands them on, without reading it (a listener would)
      const emit = req.emit;
      req.emit = function (this: IncomingMessage, event: string | symbol, ...args: any[]) {
        if (event === 'resume' || event === 'data') reading = true;
        if (event === 'data') received += (args[0] as Buffer).length;
        for (const w of waiting) w();
        return emit.call(this, event, ...args);
      } as typeof req.emit;
      resolve({ req, res });
    };
    to.gyre.app.server.on('request', seen);
  });
  const sent = request(`${to.base}/hooks/github/${slug}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(length === null ? {} : { 'content-length': String(length) }),
      'x-github-event': 'push',
      'x-client-trace-id': trace,
      'x-hub-signature-256': sign('{}'),
      ...o.headers,
    },
  });
  const answer = new Promise<{ status: number; headers: IncomingHttpHeaders; body: any } | { error: string }>((resolve) => {
    sent.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
    });
    sent.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
  unsentDeliveries.add(sent);
  sent.once('close', () => unsentDeliveries.delete(sent));
  const send = o.send ?? 1024;
  if (send > 0) sent.write(Buffer.alloc(send, ' '));
  else sent.flushHeaders();
  /** Resolves once `done` holds of what the server has seen of the body. */
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!done()) return;
        waiting.delete(check);
        resolve();
      };
      waiting.add(check);
      check();
    });
  return {
    answer,
    /** Resolves once the server reads the body; fails if it answers first. */
    read: async () => {
      await within(5000, server, `${trace} reaching the server`);
      const begun = until(() => reading);
      const refused = answer.then((a) =>
        reading ? undefined : Promise.reject(new Error(`${trace} was answered before its body was read: ${JSON.stringify(a)}`)),
      );
      await within(5000, Promise.race([begun, refused]), `${trace} being read`);
    },
    /** Resolves once the server has had all the bytes sent of the body. */
    arrived: () =>
      within(
        5000,
        until(() => received >= send),
        `${trace}'s ${send} bytes reaching the server`,
      ),
    /** Ends the delivery from its sender's side; resolves once the server's side of it has ended. */
    abort: async () => {
      const { res } = await within(5000, server, `${trace} reaching the server`);
      const ended: Promise<unknown> = res.closed ? Promise.resolve() : once(res, 'close');
      sent.destroy();
      await within(5000, ended, `${trace} ending on the server`);
    },
  };
};

/** The refusals recorded for the request of `trace`: every one is appended before its answer is sent. */
const refusalsOf = async (trace: string) => {
  await g.services.settled();
  return waitForAudit(g, (e) => e.success === false && e.request?.client_trace_id === trace, 0);
};
const aRefusal = async (trace: string, status: number, code: string) => {
  // a refusal another server recorded reaches this one's audit log once it reads the log's tail
  await waitForAudit(g, (e) => e.success === false && e.request?.client_trace_id === trace);
  const recorded = await refusalsOf(trace);
  assert.is(recorded.length, 1, `${trace}: ${recorded.length} events for one refusal`);
  assert.equal(
    [recorded[0]!.action, recorded[0]!.actor.type, recorded[0]!.payload.status, recorded[0]!.payload.code],
    ['pipeline.create', 'github_webhook', status, code],
  );
};

/** A signed ping of about `bytes` to `to`, each one a new body. */
const ping = (bytes: number, to = base) => deliver('ping', JSON.stringify({ zen: randomBytes(8).toString('hex').padEnd(bytes, ' '), hook_id: 1 }), { to });
const pong = async (bytes: number, to: string, what: string) => {
  const r = await ping(bytes, to);
  assert.equal([r.status, r.body], [200, { message: 'pong' }], what);
};

test('connections that say their bodies are large and send nothing hold nothing: a signed delivery is taken meanwhile', async () => {
  const run = randomBytes(4).toString('hex');
  // four deliveries that say they are 25 MB each (100 MB, 25 times the bound) and send their headers only, or 1 KB
  const idle = [0, 0, 1024, 1024].map((send, i) => unsent(`idle-${i}-${run}`, 25 * MB, { to: bounded, send }));
  for (const d of idle) await d.read();
  // a delivery of three quarters of the bound is read whole, and answered
  await pong(3 * MB, bounded.base, 'a genuine delivery while four connections said 100 MB and sent 2 KB');
  for (const [i, d] of idle.entries()) {
    assert.is(await Promise.race([d.answer, 'unanswered']), 'unanswered', `idle ${i} was answered`);
    await d.abort();
  }
});

test('bodies that arrive past GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT are read no further, 503 with Retry-After, audited once; bytes come back however a delivery ends', async () => {
  const run = randomBytes(4).toString('hex');
  // a delivery of 3 MB being sent, slowly: 2.5 MB of it arrived, and are held
  const holder = unsent(`held-${run}`, 3 * MB, { to: bounded, send: 2.5 * MB });
  await holder.read();
  await holder.arrived();
  // deliveries whose bodies arrive past the 1.5 MB left: read until then, refused before they are whole, the connection ends
  const traces = [`over-a-${run}`, `over-b-${run}`, `over-chunked-${run}`];
  const over = traces.map((trace, i) => unsent(trace, i === 2 ? null : 20 * MB, { to: bounded, send: 2 * MB }));
  for (const [i, d] of over.entries()) {
    await d.read();
    const r = await within(5000, d.answer, `over ${i}`);
    if ('error' in r) throw new Error(`over ${i}: the answer was lost (${r.error})`);
    assert.is(r.status, 503, JSON.stringify(r.body));
    assert.is(r.body.code, 'WEBHOOK_DELIVERIES_BUSY');
    assert.match(r.body.message, `${inFlight} bytes, GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT`);
    assert.is(r.headers['retry-after'], '10');
    assert.is(r.headers.connection, 'close');
    await d.abort();
  }
  for (const trace of traces) await aRefusal(trace, 503, 'WEBHOOK_DELIVERIES_BUSY');
  // within the bound, deliveries are taken meanwhile: a genuine one is answered, a forged one refused for its signature
  await pong(MB, bounded.base, 'a delivery that fits beside the holder');
  const forged = await deliver('push', pushOf('refs/heads/main', 'f'.repeat(40)).padEnd(MB, ' '), {
    to: bounded.base,
    signature: sign('another body'),
  });
  assert.is(forged.status, 401);
  // the holder's sender goes away: its 2.5 MB come back, as the answered deliveries' did, and 3 MB are taken, one after another
  await holder.abort();
  await pong(3 * MB, bounded.base, 'after the holder left');
  await pong(3 * MB, bounded.base, 'after a delivery of 3 MB was answered');
});

test('a body still arriving after GYRE_WEBHOOK_BODY_TIMEOUT_MS is refused 408, audited once, and its bytes come back', async () => {
  const trace = `slow-${randomBytes(4).toString('hex')}`;
  // 25 MB said, 3 MB sent: it holds three quarters of the bound until the server gives up on it
  const slow = unsent(trace, 25 * MB, { to: second, send: 3 * MB });
  await slow.read();
  await slow.arrived();
  const r = await within(10_000, slow.answer, trace);
  if ('error' in r) throw new Error(`${trace}: the answer was lost (${r.error})`);
  assert.equal([r.status, r.body.code, r.headers.connection], [408, 'WEBHOOK_BODY_TIMEOUT', 'close']);
  assert.match(r.body.message, 'within 1000 ms (GYRE_WEBHOOK_BODY_TIMEOUT_MS)');
  await slow.abort();
  await aRefusal(trace, 408, 'WEBHOOK_BODY_TIMEOUT');
  await pong(3 * MB, second.base, 'after the slow delivery was refused');
});

test("a delivery too large (413) or not JSON (415), refused by the server before the route, is audited once like the route's own refusals", async () => {
  const run = randomBytes(4).toString('hex');
  const cases: Array<{ trace: string; length: number; headers: Record<string, string>; status: number; code: string }> = [
    { trace: `too-large-${run}`, length: 25 * MB + 1, headers: {}, status: 413, code: 'BODY_TOO_LARGE' },
    {
      trace: `form-${run}`,
      length: 20 * MB,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
  ];
  for (const c of cases) {
    const d = unsent(c.trace, c.length, { headers: c.headers });
    const r = await within(5000, d.answer, c.trace);
    if ('error' in r) throw new Error(`${c.trace}: the answer was lost (${r.error})`);
    // refused with all but its first KB unsent, and the connection ends rather than reading the rest
    assert.equal([r.status, r.body.code, r.headers.connection], [c.status, c.code, 'close'], c.trace);
    await d.abort();
    await aRefusal(c.trace, c.status, c.code);
  }
  // a small body of another type is read off and dropped: the connection stays usable
  const trace = `text-${run}`;
  const text = await fetch(`${base}/hooks/github/${slug}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'x-client-trace-id': trace, 'x-hub-signature-256': sign('{}') },
    body: '{}',
  });
  assert.equal([text.status, ((await text.json()) as any).code, text.headers.get('connection')], [415, 'UNSUPPORTED_MEDIA_TYPE', 'keep-alive']);
  await aRefusal(trace, 415, 'UNSUPPORTED_MEDIA_TYPE');
});

test.run();

// runs on the SQL event store only: it moves a log out of the SQL store into EventStoreDB
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGyre, type Gyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { connectEventStoreDb } from '../adapters/eventstore/eventstoredb.ts';
import { testDatabaseUrl } from './support/database.ts';
import { type EventStoreDbStandIn, startEventStoreDbStandIn } from './support/eventstoredb-standin.ts';
import { gitRepo } from './support/git-repo.ts';
import { gqlData as gql, loggedEvents, startTestGyre } from './support/gyre.ts';
import { parkedConfig, until } from './support/jobs.ts';

/**
 * Moving an installation: `gyre events copy --to esdb://…` (a real child process) copies the log of an embedded (or
 * PostgreSQL) installation into an empty EventStoreDB (the stand-in); Gyre started on it with the same data directory
 * gives the same answers, opens the same secrets and goes on working, its reactors repeating nothing.
 */
const test = suite('gyre events copy: an installation moved to EventStoreDB');
const root = resolve(import.meta.dirname, '..');
const canary = 'CANARY-webhook-secret-4e1d0b9a';

let standIn: EventStoreDbStandIn;
let repo: ReturnType<typeof gitRepo>;
const dataDirs: string[] = [];
test.before(async () => {
  standIn = await startEventStoreDbStandIn();
  repo = gitRepo();
  repo.commit(parkedConfig('acme'), 'first');
});
test.after(async () => {
  await standIn.stop();
  repo.remove();
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

/** What users of the installation see: accounts, projects and their secrets (masked), contexts, pipelines and jobs. */
const answers = `{
  systemSettings { licenseSeats }
  users { edges { node { id login name state isAdmin createdAt } } }
  projects { edges { node { id slug createdAt envVars { edges { node { name value createdAt } } } } } }
  contexts(owner: "gh/acme") { edges { node { id name createdAt envVars { edges { node { name value } } } } } }
  pipelines(projectSlug: "gh/acme/app") { edges { node { id number state createdAt trigger { type } vcs { revision }
    workflows { id name status createdAt jobs { id name status } } } } }
}`;
const wholeAuditLog = async (g: Gyre, token: string) => {
  const rows: Array<Record<string, unknown>> = [];
  for (let after: string | null = null; ; ) {
    const page: Record<string, any> = await gql(
      g,
      token,
      'query($a: String) { auditLog(first: 500, after: $a) { edges { cursor node { id action actor { id } target { id } payload occurredAt success } } pageInfo { hasNextPage endCursor } } }',
      { a: after },
    );
    rows.push(...page.auditLog.edges.map((e: { node: Record<string, unknown> }) => e.node));
    if (!page.auditLog.pageInfo.hasNextPage) return rows;
    after = page.auditLog.pageInfo.endCursor;
  }
};
const csv = async (g: Gyre, token: string) => {
  const res = await g.app.inject({ method: 'GET', url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${token}` } });
  assert.is(res.statusCode, 200);
  return res.body.trim().split(/\r?\n/);
};
const copy = (dataDir: string) =>
  new Promise<{ code: number | null; out: string; err: string }>((done) => {
    const url = testDatabaseUrl();
    const child = spawn(process.execPath, [join(root, 'bin', 'gyre.mjs'), 'events', 'copy', '--to', standIn.url], {
      cwd: root,
      env: { ...process.env, GYRE_DATABASE_URL: url ?? '', GYRE_DATA_DIR: dataDir, GYRE_EVENTSTORE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => done({ code, out, err }));
  });
const workflowStarts = (log: Array<Record<string, unknown>>) => log.filter((e) => e.action === 'workflow.create' || e.action === 'workflow.start').length;

test('users, projects, secrets and pipelines give the same answers after the move, and Gyre goes on', async () => {
  // before: an installation on its own database, as `gyre serve` keeps it
  const before = await startTestGyre({}, { ownDatabase: true });
  dataDirs.push(before.dataDir);
  const token = before.adminToken;
  await gql(before, token, 'mutation { updateSystemSettings(input: {licenseSeats: 42}) { licenseSeats } }');
  await before.createUser('dev', { orgs: ['acme'], githubId: 42 });
  await gql(before, token, `mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "${repo.dir}"}) { id } }`);
  await gql(before, token, 'mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "DEPLOY_KEY", value: "k-0123456789") { value } }');
  await gql(before, token, 'mutation($v: String!) { updateProjectSettings(slug: "gh/acme/app", input: {webhookSecret: $v}) { slug } }', { v: canary });
  const ctx = (await gql(before, token, 'mutation { createContext(input: {owner: "gh/acme", name: "release"}) { id } }')).createContext.id;
  await gql(before, token, 'mutation($id: ID!) { storeContextEnvVar(contextId: $id, name: "TOKEN", value: "t-9876543210") { value } }', { id: ctx });
  const first = (await gql(before, token, 'mutation { triggerPipeline(input: {projectSlug: "gh/acme/app"}) { id } }')).triggerPipeline.id;
  const queued = async (g: Gyre, id: string) =>
    until(`pipeline ${id}'s job queued`, async () => {
      const p = (await gql(g, token, 'query($id: ID!) { pipeline(id: $id) { workflows { jobs { status } } } }', { id })).pipeline;
      return p.workflows[0]?.jobs[0]?.status === 'queued' ? true : undefined;
    });
  await queued(before, first);
  await before.services.settled();
  const seen = await gql(before, token, answers);
  const log = await wholeAuditLog(before, token);
  const lines = await csv(before, token);
  assert.ok(seen.pipelines.edges.length === 1 && seen.users.edges.length === 2, JSON.stringify(seen));
  await before.close();

  const copied = await copy(before.dataDir);
  assert.is(copied.code, 0, copied.err);
  const count = Number(/copied ([\d,]+) events/.exec(copied.out)?.[1]?.replace(/,/g, ''));
  assert.ok(count >= log.length, `every event copied: ${copied.out}`);
  assert.not.match(copied.out + copied.err, canary);
  const target = await connectEventStoreDb(standIn.url);
  try {
    const page = await target.readAll('', { limit: 100_000 });
    assert.is(page.events.length, count + 1, 'the events and the record of the copy');
    assert.not.match(JSON.stringify(page.events), canary, 'the webhook secret stays sealed in the copied events');
  } finally {
    await target.close();
  }

  // a second copy into the same EventStoreDB is refused: it is no longer empty
  const again = await copy(before.dataDir);
  assert.is(again.code, 2, again.err);
  assert.match(again.err, /already holds events of Gyre/);

  // after: the same data directory (its data keys) and the log in EventStoreDB
  const logged: Array<Record<string, unknown>> = [];
  const after = await createGyre(
    loadConfig({
      GYRE_DATA_DIR: before.dataDir,
      ...(testDatabaseUrl() ? { GYRE_DATABASE_URL: testDatabaseUrl() } : {}),
      GYRE_EVENTSTORE_URL: standIn.url,
      GYRE_LOG_LEVEL: 'warn',
      GYRE_LOCAL_AGENT: 'false',
    }),
    { logStream: { write: (line) => void logged.push(JSON.parse(line)) } },
  );
  try {
    assert.is(await after.bootstrap(), null, 'the admin is known: no second one');
    await after.services.settled();
    assert.equal(await gql(after, token, answers), seen, 'the same answers');
    const moved = await wholeAuditLog(after, token);
    const copyEvent = moved.filter((e) => e.action === 'system.event_log.copy');
    assert.is(copyEvent.length, 1);
    assert.equal(copyEvent[0]!.payload, { from: testDatabaseUrl() ? 'postgresql' : 'embedded', events: count });
    // the log read before the move, and after it the export of that read and the copy: the newest first
    assert.equal(moved.slice(moved.length - log.length), log, 'the audit log, ids and times included');
    const movedLines = await csv(after, token);
    for (const line of lines.slice(1))
      assert.ok(movedLines.includes(line), `the CSV still holds ${line}\n${movedLines.filter((l) => l.startsWith(line.slice(0, 20))).join('\n')}`);
    assert.equal(
      moved.slice(0, moved.length - log.length).map((e) => e.action),
      ['system.event_log.copy', 'audit_log.export'],
      'nothing new but the copy and the export of the CSV read before it',
    );
    assert.is(workflowStarts(moved), workflowStarts(log), 'no reactor started the workflow again');
    // each reactor goes on from where it was, at the same event in the new log
    const told = logged.filter((l) => /a copy of the one the read models followed/.test(String(l.msg)));
    assert.is(told.length, 1, 'the server says the read models are built again and the reactors go on where they were');
    const record = await after.services.store.readLast('event-log');
    const reactors = (record!.data as { reactors: Record<string, string> }).reactors;
    assert.ok(Object.keys(reactors).length >= 3, JSON.stringify(reactors));
    const positions = (await after.services.db('reactor_checkpoints').select('name', 'position')) as Array<{ name: string; position: string }>;
    for (const [name, at] of Object.entries(reactors)) assert.ok(positions.find((r) => r.name === name)!.position >= at, name);
    const inNewLog = new Set(['', ...(await loggedEvents(after)).map((e) => e.position)]);
    for (const r of positions) assert.ok(inNewLog.has(r.position), `${r.name} is at an event of the new log`);

    // the secret opens: a push signed with the project's webhook secret starts a pipeline, whose job is queued
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: repo.git('rev-parse', 'HEAD'),
      repository: { full_name: 'acme/app' },
      sender: { id: 42, login: 'dev' },
    });
    const push = await after.app.inject({
      method: 'POST',
      url: '/hooks/github/gh/acme/app',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'after-the-move',
        'x-hub-signature-256': `sha256=${createHmac('sha256', canary).update(body).digest('hex')}`,
      },
      payload: body,
    });
    assert.is(push.statusCode, 201, push.body);
    await queued(after, push.json().id);
    assert.is((await gql(after, token, answers)).pipelines.edges.length, 2);
  } finally {
    await after.close();
  }
});

test.run();

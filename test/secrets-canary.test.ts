import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { routeRules } from '../api/auth/authorization.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { rows } from '../adapters/database/sql.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';

/**
 * A known secret goes in through every door a user has (GraphQL, REST, inline, in variables, in bad
 * input) and must come out of none but the job's environment: not an HTTP answer, a WebSocket
 * message, a log line, the audit CSV, a database row or a file in the data directory.
 */
const test = suite('secrets: a canary value never leaves the vault except into a job');
const canary = `canary-${randomBytes(12).toString('hex')}`;
/** Also a number (GraphQL repeats numbers unquoted) and a short value (a mask could hold all of it). */
const numeric = 700_000_000_000_000 + Math.floor(Math.random() * 99_999_999_999_999);
const short = `Q${randomBytes(2).toString('hex').slice(0, 3)}`;
const forms = [
  canary,
  Buffer.from(canary).toString('base64'),
  Buffer.from(canary).toString('base64url'),
  Buffer.from(canary).toString('hex'),
  String(numeric),
  `xxxx${short}`,
];
const seen: Array<{ where: string; text: string }> = [];
const logs: string[] = [];
let g: TestGyre;
let base: string;
let user: { id: string; token: string };
const ids: Record<string, string> = {};
/** A runner token: in its create answer once, then nowhere (not a route, the log, a row or a file). */
let runnerToken = '';
const runnerTokenAnswer = 'POST /api/v3/runner/token (the create answer)';

const admin = () => ({ 'circle-token': g.adminToken });
const saw = (where: string, text: string) => seen.push({ where, text });
const http = async (method: string, path: string, init: { body?: string; headers?: Record<string, string>; json?: unknown } = {}) => {
  const headers: Record<string, string> = { ...admin(), ...init.headers };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  const text = await res.text();
  saw(`${method} ${path} → ${res.status}`, `${JSON.stringify([...res.headers])}\n${text}`);
  return { status: res.status, text };
};
const gql = async (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = admin()) => {
  const r = await http('POST', '/graphql', { json: { query, variables }, headers });
  return JSON.parse(r.text) as { data: any; errors?: Array<{ message: string }> };
};

test.before(async () => {
  g = await startTestGyre({ GYRE_LOG_LEVEL: 'trace' }, { logStream: { write: (line) => void logs.push(line) } });
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  user = await g.createUser('dana', { orgs: ['acme'] });
});
test.after(async () => g.stop());

test('the canary goes in through every door', async () => {
  const events: string[] = [];
  const ws = createClient({
    url: `${base.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { 'Circle-Token': g.adminToken },
    retryAttempts: 0,
  });
  const stop = ws.subscribe(
    { query: 'subscription { events { id action actor { id type name } target { id type name } scope { id } payload metadata request success occurredAt } }' },
    { next: (m) => void events.push(JSON.stringify(m)), error: () => {}, complete: () => {} },
  );
  // attached once it has seen an event: changes of a setting until one arrives
  for (let seats = 100, deadline = Date.now() + 10_000; events.length === 0 && Date.now() < deadline; seats++) {
    await gql('mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s: seats });
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(events.length > 0, 'the subscription attached');

  ids.project = (await gql('mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "https://github.com/acme/app.git"}) { id } }')).data.createProject.id;
  await gql('mutation($v: String!) { storeProjectEnvVar(slug: "gh/acme/app", name: "IN_VARIABLES", value: $v) { value } }', { v: canary });
  await gql(`mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "INLINE", value: "${canary}") { value } }`);
  await gql('mutation($v: String!) { updateProjectSettings(slug: "gh/acme/app", input: {webhookSecret: $v}) { settings { webhookSecret } } }', { v: canary });
  assert.is((await http('POST', '/api/v2/project/gh/acme/app/envvar', { json: { name: 'BY_REST', value: canary } })).status, 201);
  const ctx = JSON.parse((await http('POST', '/api/v2/context', { json: { name: 'deploy', owner: { slug: 'gh/acme', type: 'organization' } } })).text);
  ids.context = ctx.id;
  assert.is((await http('PUT', `/api/v2/context/${ctx.id}/environment-variable/BY_REST`, { json: { value: canary } })).status, 200);
  await gql(
    'mutation($id: ID!, $v: String!) { storeContextEnvVar(contextId: $id, name: "IN_GRAPHQL", value: $v) { value } }',
    { id: ctx.id, v: canary },
    { authorization: `Bearer ${user.token}` },
  );

  // bad input that carries the canary: refused, audited, and never echoed
  assert.is((await http('PUT', `/api/v2/context/${ctx.id}/environment-variable/BAD-NAME`, { json: { value: canary } })).status, 400);
  assert.is(
    (await http('POST', '/api/v2/project/gh/acme/app/envvar', { body: `{"name": "X", "value": "${canary}"`, headers: { 'content-type': 'application/json' } }))
      .status,
    400,
  );
  assert.is(
    (await http('PUT', `/api/v2/context/${ctx.id}/environment-variable/X`, { body: canary, headers: { 'content-type': 'application/json' } })).status,
    400,
  );
  assert.is((await http('POST', '/api/v2/project/gh/acme/app/envvar', { body: canary, headers: { 'content-type': 'text/plain' } })).status, 400);
  assert.ok((await gql(`{ projects(first: "${canary}") { edges { cursor } } }`)).errors);
  assert.ok((await gql('query($n: Int) { projects(first: $n) { edges { cursor } } }', { n: canary })).errors);
  assert.ok((await gql(`{ project(slug: "${canary}") { id } }`)).errors);
  // a number sent where a string belongs: GraphQL would repeat it unquoted
  assert.ok((await gql('mutation($v: String!) { storeProjectEnvVar(slug: "gh/acme/app", name: "NUM", value: $v) { value } }', { v: numeric })).errors);
  assert.ok((await gql(`mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "NUM", value: ${numeric}) { value } }`)).errors);
  // a short value: its mask must not be the value itself
  await gql('mutation($v: String!) { storeProjectEnvVar(slug: "gh/acme/app", name: "SHORT", value: $v) { value } }', { v: short });
  assert.ok(
    (
      await gql('mutation($v: String!) { updateProjectSettings(slug: "gh/acme/app", input: {webhookSecret: $v, defaultBranch: "a b"}) { slug } }', {
        v: canary,
      })
    ).errors,
  );
  assert.ok((await gql(`mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "${canary}-bad name", value: "${canary}") { name } }`)).errors);
  assert.is((await http('GET', '/api/v2/me', { headers: { 'circle-token': canary } })).status, 401);
  assert.is((await http('GET', `/api/v2/context?owner-slug=${canary}`)).status, 400);
  await gql('mutation { rotateMasterKey { keyId } }');
  assert.is((await http('POST', '/api/v3/runner/resource', { json: { resource_class: 'acme/linux', description: 'canary' } })).status, 200);
  const created = await fetch(`${base}/api/v3/runner/token`, {
    method: 'POST',
    headers: { ...admin(), 'content-type': 'application/json' },
    body: JSON.stringify({ resource_class: 'acme/linux', nickname: 'canary' }),
  });
  const createdText = await created.text();
  saw(runnerTokenAnswer, createdText);
  runnerToken = JSON.parse(createdText).token;
  assert.match(runnerToken, /^gyre_runner_/);
  // the agent uses it: refused here, and the refusal never echoes it
  assert.is((await http('GET', '/api/v2/me', { headers: { 'circle-token': runnerToken } })).status, 403);
  await gql('{ runnerTokens(resourceClass: "acme/linux") { id nickname } }');

  // the one way out: a job's environment
  const env = await g.services.jobSecrets.environmentFor({
    projectSlug: 'gh/acme/app',
    contexts: ['deploy'],
    member: { login: 'admin', isAdmin: true, orgs: [], teams: [] },
    jobId: 'job-1',
    context: { actor: systemActor, request: null },
  });
  assert.equal([env.IN_VARIABLES, env.INLINE, env.BY_REST, env.IN_GRAPHQL, env.SHORT], [canary, canary, canary, canary, short]);
  await waitForAudit(g, (e) => e.action === 'context.secrets.accessed');
  // the subscription has it too before it stops: everything before it came first
  for (const deadline = Date.now() + 10_000; !events.some((e) => e.includes('context.secrets.accessed')) && Date.now() < deadline; )
    await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    events.some((e) => e.includes('context.secrets.accessed')),
    'the subscription saw the last event',
  );
  stop();
  await ws.dispose();
  saw('subscription', events.join('\n'));
  assert.ok(events.length >= 10, `the subscription saw ${events.length} events`);
});

test('every route, query and export answers without it', async () => {
  const fill = (route: string) =>
    route.replace(':vcs/:org/:repo', 'gh/acme/app').replace(':slug', 'gh%2Facme%2Fapp').replace(':id', ids.context!).replace(':name', 'BY_REST');
  for (const [key] of Object.entries(routeRules)) {
    const [method, route] = key.split(' ') as [string, string];
    if (method !== 'GET' || route.startsWith('/auth/')) continue;
    for (const headers of [admin(), { 'circle-token': user.token }]) await http('GET', fill(route), { headers });
  }
  await http('GET', '/api/v2/context?owner-slug=gh/acme');
  await http('GET', '/api/v3/runner/resource?namespace=acme');
  await http('GET', '/api/v3/runner/token?resource-class=acme/linux');
  await http('GET', '/admin/audit-log.csv');
  const everything = `{
    projects { edges { node { id slug settings { gitUrl webhookSecret } envVars { edges { node { name value createdAt updatedAt } } } } } }
    project(slug: "gh/acme/app") { envVars(first: 500) { edges { node { name value } } } }
    contexts(owner: "gh/acme") { edges { node { id name owner { id slug } envVars { edges { node { name value } } } restrictions { id value } } } }
    context(id: "${ids.context}") { envVars { edges { node { value } } } }
    auditLog(first: 500) { edges { node { id action actor { id name } target { id name } scope { id name } payload metadata request success occurredAt } } }
    me { login } users { edges { node { login } } } systemSettings { licenseSeats }
  }`;
  const all = await gql(everything);
  assert.is(all.errors, undefined, JSON.stringify(all.errors));
  // a control: the scan does see what the APIs show of the canary, masked
  const masked = `xxxx${canary.slice(-4)}`;
  const shown = Object.fromEntries(all.data.projects.edges[0].node.envVars.edges.map((e: any) => [e.node.name, e.node.value]));
  assert.equal(shown, { BY_REST: masked, INLINE: masked, IN_VARIABLES: masked, SHORT: 'xxxx' });
  assert.is(all.data.projects.edges[0].node.settings.webhookSecret, masked);
  assert.ok(all.data.auditLog.edges.some((e: any) => e.node.action === 'context.env_var.store'));
});

test('the database, the log, the data directory: no clear value, no base64', async () => {
  const db = g.services.db;
  const tables = await rows<{ tablename: string }>(db.raw(`select tablename from pg_tables where schemaname = 'public' order by 1`));
  assert.ok(tables.some((t) => t.tablename === 'events'));
  for (const { tablename } of tables) {
    const dump = await rows<{ row: string }>(db.raw(`select row_to_json(t)::text as row from "${tablename}" t`));
    saw(`table ${tablename}`, dump.map((r) => r.row).join('\n'));
  }
  const sealedRows = seen.find((s) => s.where === 'table events')!.text;
  assert.match(sealedRows, /gyre:aes-256-gcm:/, 'the events hold the ciphertext');
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
  for (const file of walk(g.dataDir)) saw(`file ${file}`, readFileSync(file).toString('latin1'));
  saw('log', logs.join(''));
  assert.ok(logs.length > 50, `the log has ${logs.length} lines at trace level`);
  const leaks = seen.flatMap((s) => forms.filter((f) => s.text.includes(f)).map((f) => `${s.where} holds ${f === canary ? 'the value' : 'an encoding of it'}`));
  assert.equal(leaks, []);
  const tokenSeen = seen.filter((s) => s.text.includes(runnerToken) || s.text.includes(runnerToken.slice('gyre_runner_'.length))).map((s) => s.where);
  assert.equal(tokenSeen, [runnerTokenAnswer], 'the runner token is in its create answer and nowhere else');
  assert.ok(seen.length > 60, `${seen.length} places were searched`);
});

test.run();

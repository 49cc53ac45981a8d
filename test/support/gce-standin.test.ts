import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type GceStandIn, startGceStandIn } from './gce-standin.ts';
import { until } from './jobs.ts';

const test = suite('test/support/gce-standin');
const project = 'gyre-ci';
const zone = 'europe-west4-b';
const clientEmail = 'gyre-vm@gyre-ci.iam.gserviceaccount.com';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const base = `/compute/v1/projects/${project}/zones/${zone}`;

type Json = any;
/** A self-signed service account JWT, as google-auth-library makes one. */
const jwt = (key: KeyObject, claims: Record<string, unknown> = {}) => {
  const now = Math.floor(Date.now() / 1000);
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iss: clientEmail, sub: clientEmail, aud: 'https://compute.googleapis.com/', iat: now, exp: now + 3600, ...claims })}`;
  return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), key).toString('base64url')}`;
};
const call = async (g: GceStandIn, method: string, path: string, body?: unknown, token: string | null = jwt(privateKey)) => {
  const r = await fetch(g.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Json };
};
const instance = (name: string, script: string, extra: Json = {}) => ({
  name,
  machineType: `zones/${zone}/machineTypes/e2-small`,
  labels: { 'managed-by': 'gyre-vm-service' },
  disks: [{ boot: true, autoDelete: true, initializeParams: { sourceImage: 'projects/debian-cloud/global/images/family/debian-12', labels: { team: 'ci' } } }],
  networkInterfaces: [{ network: 'global/networks/default', subnetwork: 'regions/europe-west4/subnetworks/ci' }],
  metadata: { items: [{ key: 'startup-script', value: script }] },
  ...extra,
});
const done = async (g: GceStandIn, op: Json) => (await call(g, 'POST', `${base}/operations/${op.name}/wait`)).body;
/** Whether a process is still there, a zombie not counted (an orphan killed here waits for init to reap it). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

let out: string;
let g: GceStandIn;
test.before.each(async () => {
  out = mkdtempSync(join(tmpdir(), 'gce-standin-test-'));
  g = await startGceStandIn({ projectId: project, zone, serviceAccount: { clientEmail, publicKeyPem } });
});
test.after.each(async () => {
  await g.close();
  rmSync(out, { recursive: true, force: true });
});

test('an insert answers a RUNNING operation; wait answers it DONE; the instance boots, runs its startup-script with sh and is RUNNING at 127.0.0.1', async () => {
  const file = join(out, 'booted');
  const inserted = await call(g, 'POST', `${base}/instances`, instance('vm-1', `echo started; echo "$0" > ${file}`));
  assert.is(inserted.status, 200, JSON.stringify(inserted.body));
  assert.is(inserted.body.kind, 'compute#operation');
  assert.is(inserted.body.operationType, 'insert');
  assert.ok(inserted.body.targetLink.endsWith(`/projects/${project}/zones/${zone}/instances/vm-1`));
  const op = await done(g, inserted.body);
  assert.is(op.status, 'DONE');
  assert.is(op.error, undefined);
  assert.equal((await call(g, 'GET', `${base}/operations/${op.name}`)).body.status, 'DONE');
  await until('the script ran', async () => (existsSync(file) ? true : undefined), 10_000);
  assert.is(readFileSync(file, 'utf8').trim(), 'sh');
  const got = await call(g, 'GET', `${base}/instances/vm-1`);
  assert.is(got.body.status, 'RUNNING');
  assert.is(got.body.networkInterfaces[0].networkIP, '127.0.0.1');
  assert.is(got.body.networkInterfaces[0].subnetwork, `https://www.googleapis.com/compute/v1/projects/${project}/regions/europe-west4/subnetworks/ci`);
  assert.is(got.body.machineType, `https://www.googleapis.com/compute/v1/projects/${project}/zones/${zone}/machineTypes/e2-small`);
  assert.equal(got.body.labels, { 'managed-by': 'gyre-vm-service' });
  const [vm] = g.instances();
  assert.equal([vm!.name, vm!.status, vm!.diskLabels, vm!.metadata['startup-script']?.startsWith('echo')], ['vm-1', 'RUNNING', { team: 'ci' }, true]);
  assert.is(vm!.id, got.body.id);
  await until('output captured', async () => (vm!.output().includes('started') ? true : undefined), 10_000);
  assert.equal(
    g.calls.map((c) => [c.kind, c.status]),
    [
      ['insert', 200],
      ['operation', 200],
      ['operation', 200],
      ['get', 200],
    ],
  );
});

test('a token that is missing, signed by another key, for another account or audience, or expired is refused with 401 authError', async () => {
  const path = `${base}/instances/none`;
  const now = Math.floor(Date.now() / 1000);
  for (const token of [
    null,
    jwt(other),
    jwt(privateKey, { iss: 'someone@else.iam.gserviceaccount.com' }),
    jwt(privateKey, { aud: 'https://oauth2.googleapis.com/token' }),
    jwt(privateKey, { exp: now - 600 }),
  ]) {
    const r = await call(g, 'GET', path, undefined, token);
    assert.is(r.status, 401);
    assert.is(r.body.error.errors[0].reason, 'authError');
    assert.is(r.body.error.status, 'UNAUTHENTICATED');
  }
  const known = await call(g, 'GET', path);
  assert.is(known.status, 404);
  assert.equal(known.body.error.errors[0], { message: known.body.error.message, domain: 'global', reason: 'notFound' });
  assert.match(known.body.error.message, `The resource 'projects/${project}/zones/${zone}/instances/none' was not found`);
});

test('the API refuses a second instance of a name (409 alreadyExists), a bad name or network (400), another project (404) or zone (400)', async () => {
  await done(g, (await call(g, 'POST', `${base}/instances`, instance('vm-1', 'true'))).body);
  const again = await call(g, 'POST', `${base}/instances`, instance('vm-1', 'true'));
  assert.is(again.status, 409);
  assert.is(again.body.error.errors[0].reason, 'alreadyExists');
  assert.is((await call(g, 'POST', `${base}/instances`, instance('VM_1', 'true'))).status, 400);
  assert.is((await call(g, 'POST', `${base}/instances`, instance('vm-2', 'true', { networkInterfaces: [{ network: 'default' }] }))).status, 400);
  assert.is((await call(g, 'POST', `${base}/instances`, instance('vm-2', 'true', { machineType: 'zones/us-east1-b/machineTypes/e2-small' }))).status, 400);
  assert.is((await call(g, 'POST', `${base}/instances`, instance('vm-2', 'true', { labels: { 'Managed-By': 'x' } }))).status, 400);
  assert.is((await call(g, 'GET', `/compute/v1/projects/other/zones/${zone}/instances/vm-1`)).status, 404);
  assert.is((await call(g, 'GET', `/compute/v1/projects/${project}/zones/us-east1-b/instances/vm-1`)).status, 400);
  assert.equal(
    g.instances().map((i) => i.name),
    ['vm-1'],
  );
});

test('holdBoot keeps new instances STAGING without running their script; released, they boot', async () => {
  const file = join(out, 'booted');
  g.holdBoot(true);
  const op = await done(g, (await call(g, 'POST', `${base}/instances`, instance('vm-1', `touch ${file}`))).body);
  assert.is(op.status, 'DONE');
  assert.is((await call(g, 'GET', `${base}/instances/vm-1`)).body.status, 'STAGING');
  assert.is(g.instances()[0]!.pid, null);
  assert.not.ok(existsSync(file));
  g.holdBoot(false);
  assert.is((await call(g, 'GET', `${base}/instances/vm-1`)).body.status, 'RUNNING');
  await until('the script ran', async () => (existsSync(file) ? true : undefined), 10_000);
});

test('delete kills the script and what it left running, and the instance is gone when its operation is DONE', async () => {
  const pidFile = join(out, 'pid');
  await done(g, (await call(g, 'POST', `${base}/instances`, instance('vm-1', `sleep 600 & echo $! > ${pidFile}`))).body);
  const sleeper = await until(
    'the script ran',
    async () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() ? Number(readFileSync(pidFile, 'utf8')) : undefined),
    10_000,
  );
  assert.ok(alive(sleeper));
  const deleting = await call(g, 'DELETE', `${base}/instances/vm-1`);
  assert.is(deleting.body.operationType, 'delete');
  assert.is((await done(g, deleting.body)).status, 'DONE');
  await until('the sleeper is killed', async () => (alive(sleeper) ? undefined : true), 10_000);
  assert.is((await call(g, 'GET', `${base}/instances/vm-1`)).status, 404);
  assert.is((await call(g, 'DELETE', `${base}/instances/vm-1`)).status, 404);
  assert.equal(g.instances(), []);
});

test('failNext fails the next calls of a kind with the API error body, or the operation with error.errors and httpErrorStatusCode', async () => {
  g.failNext('get', { code: 403, reason: 'rateLimitExceeded' }, 2);
  for (const _ of [1, 2]) {
    const r = await call(g, 'GET', `${base}/instances/vm-1`);
    assert.is(r.status, 403);
    assert.equal(r.body.error.errors[0].reason, 'rateLimitExceeded');
    assert.is(r.body.error.errors[0].domain, 'usageLimits');
    assert.match(r.body.error.message, 'per minute');
  }
  assert.is((await call(g, 'GET', `${base}/instances/vm-1`)).status, 404);

  g.failNext('insert', { code: 503, reason: 'ZONE_RESOURCE_POOL_EXHAUSTED', inOperation: true });
  const accepted = await call(g, 'POST', `${base}/instances`, instance('vm-1', 'true'));
  assert.is(accepted.status, 200);
  const failed = await done(g, accepted.body);
  assert.is(failed.status, 'DONE');
  assert.is(failed.error.errors[0].code, 'ZONE_RESOURCE_POOL_EXHAUSTED');
  assert.match(failed.error.errors[0].message, `zones/${zone}' does not have enough resources`);
  assert.equal([failed.httpErrorStatusCode, failed.httpErrorMessage], [503, 'SERVICE UNAVAILABLE']);
  assert.equal(g.instances(), []);

  g.failNext('operation', { code: 500, reason: 'backendError', message: 'Internal error' });
  const op = (await call(g, 'POST', `${base}/instances`, instance('vm-1', 'true'))).body;
  const wait = await call(g, 'POST', `${base}/operations/${op.name}/wait`);
  assert.equal([wait.status, wait.body.error.message], [500, 'Internal error']);
  assert.is((await done(g, op)).status, 'DONE');

  g.failNext('delete', { code: 403, reason: 'forbidden', inOperation: true });
  const refused = await done(g, (await call(g, 'DELETE', `${base}/instances/vm-1`)).body);
  assert.equal([refused.error.errors[0].code, refused.httpErrorStatusCode], ['forbidden', 403]);
  assert.is(g.instances().length, 1);
});

test('wait holds until the operation is DONE, or answers it unfinished after waitMs', async () => {
  await g.close();
  g = await startGceStandIn({ projectId: project, zone, operationMs: 400, waitMs: 50 });
  const op = (await call(g, 'POST', `${base}/instances`, instance('vm-1', 'true'), null)).body;
  const early = (await call(g, 'POST', `${base}/operations/${op.name}/wait`, undefined, null)).body;
  assert.is(early.status, 'RUNNING');
  assert.is((await call(g, 'GET', `${base}/instances/vm-1`, undefined, null)).body.status, 'PROVISIONING');
  const finished = await until(
    'the operation is DONE',
    async () => {
      const r = (await call(g, 'POST', `${base}/operations/${op.name}/wait`, undefined, null)).body;
      return r.status === 'DONE' ? r : undefined;
    },
    10_000,
  );
  assert.is(finished.progress, 100);
});

test('setStatus stops an instance as from outside; close kills every script', async () => {
  const pidFile = join(out, 'pid');
  await done(g, (await call(g, 'POST', `${base}/instances`, instance('vm-1', `sleep 600 & echo $! > ${pidFile}; wait`))).body);
  await done(g, (await call(g, 'POST', `${base}/instances`, instance('vm-2', 'sleep 600'))).body);
  const sleeper = await until(
    'the script ran',
    async () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() ? Number(readFileSync(pidFile, 'utf8')) : undefined),
    10_000,
  );
  g.setStatus('vm-1', 'TERMINATED');
  assert.is((await call(g, 'GET', `${base}/instances/vm-1`)).body.status, 'TERMINATED');
  await until('vm-1 is stopped', async () => (alive(sleeper) ? undefined : true), 10_000);
  const other = g.instances().find((i) => i.name === 'vm-2')!.pid!;
  assert.ok(alive(other));
  await g.close();
  await until('vm-2 is killed', async () => (alive(other) ? undefined : true), 10_000);
  g = await startGceStandIn({ projectId: project, zone });
});

test.run();

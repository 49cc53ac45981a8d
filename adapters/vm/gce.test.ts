import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGceStandIn } from '../../test/support/gce-standin.ts';
import { until } from '../../test/support/jobs.ts';
import { freePort } from '../../test/support/ports.ts';
import { createGceCloud, type GceSettings, gceSettings } from './gce.ts';
import { type VmCloud, VmCloudError, type VmLaunch } from './port.ts';

const project = 'gyre-ci';
const zone = 'europe-west4-b';
const clientEmail = 'gyre-vm@gyre-ci.iam.gserviceaccount.com';
const keyPair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const { privateKey, publicKey } = keyPair();
const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
/** A service account key file as `gcloud iam service-accounts keys create` writes it. */
const keyFile = (key: KeyObject) =>
  JSON.stringify({
    type: 'service_account',
    project_id: project,
    private_key_id: 'a1b2c3',
    private_key: pem(key),
    client_email: clientEmail,
    client_id: '104',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
  });
const serviceAccount = { clientEmail, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };

const test = suite('adapters/vm/gce: Compute Engine through @google-cloud/compute, against a stand-in');
const out = mkdtempSync(join(tmpdir(), 'gce-test-'));
const gce = await startGceStandIn({ projectId: project, zone, serviceAccount });
const settings = (extra: Partial<GceSettings> = {}): GceSettings => ({
  projectId: project,
  zone,
  network: 'default',
  subnetwork: 'ci',
  serviceAccountJson: keyFile(privateKey),
  endpoint: gce.url,
  ...extra,
});
const cloud = createGceCloud(settings());
test.before.each(() => {
  gce.calls.length = 0;
  gce.holdBoot(false);
});
test.after(async () => {
  await cloud.close();
  await gce.close();
  rmSync(out, { recursive: true, force: true });
});

let names = 0;
const vm = (startupScript: string, extra: Partial<VmLaunch> = {}): VmLaunch => ({
  name: `gyre-vm-${++names}`,
  vmType: 'LINUX',
  image: 'projects/debian-cloud/global/images/family/debian-12',
  machineType: 'n2-standard-2',
  startupScript,
  ...extra,
});
const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    if (e instanceof VmCloudError) return e;
    throw e;
  }
  throw new Error('expected a VmCloudError');
};
/** Whether a process is still there, a zombie not counted (an orphan killed here waits for init to reap it). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const fileHolds = (file: string) => async () => (existsSync(file) && readFileSync(file, 'utf8').trim()) || undefined;
const kinds = () => gce.calls.map((c) => `${c.kind} ${c.status}`);

test('launch starts an instance labelled managed-by=gyre-vm-service, its boot disk too, whose start-up script runs; describe sees it running', async () => {
  const file = join(out, 'ran');
  const launch = vm(`echo "ran as $0" > ${file}`);
  const started = await cloud.launch(launch);
  assert.equal([started.cloudId, started.name], [launch.name, launch.name]);
  assert.ok(['pending', 'running'].includes(started.state), started.state);
  const [instance] = gce.instances().filter((i) => i.name === launch.name);
  const labels = { 'managed-by': 'gyre-vm-service', 'gyre-instance': launch.name };
  assert.equal(instance!.labels, labels);
  assert.equal(instance!.diskLabels, labels);
  assert.equal(instance!.metadata, { 'startup-script': launch.startupScript });
  assert.equal(
    [instance!.machineType, instance!.network, instance!.subnetwork],
    ['n2-standard-2', 'global/networks/default', 'regions/europe-west4/subnetworks/ci'],
  );
  assert.is(await until('the start-up script ran', fileHolds(file), 10_000), 'ran as sh');
  assert.equal(await cloud.describe(launch.name), { cloudId: launch.name, name: launch.name, state: 'running', address: '127.0.0.1' });
  // one insert, its operation waited for, the instance read: no call refused, none repeated
  assert.is(kinds().filter((k) => k.startsWith('insert')).length, 1);
  assert.ok(
    kinds().every((k) => k.endsWith(' 200')),
    kinds().join(', '),
  );
});

test('a second launch of a name (an insert refused as alreadyExists) takes the instance the first started; one of another owner is refused', async () => {
  const launch = vm('true');
  const first = await cloud.launch(launch);
  const second = await cloud.launch(launch);
  assert.is(second.cloudId, first.cloudId);
  assert.is(gce.instances().filter((i) => i.name === launch.name).length, 1);
  assert.ok(kinds().includes('insert 409'), kinds().join(', '));

  // an instance of that name without Gyre's labels, as another tool would start it
  const now = Math.floor(Date.now() / 1000);
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = part({ iss: clientEmail, sub: clientEmail, aud: 'https://compute.googleapis.com/', iat: now, exp: now + 600 });
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${claims}`;
  const token = `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), privateKey).toString('base64url')}`;
  const foreign = vm('true');
  const inserted = await fetch(`${gce.url}/compute/v1/projects/${project}/zones/${zone}/instances`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: foreign.name,
      machineType: `zones/${zone}/machineTypes/e2-small`,
      disks: [{ boot: true, initializeParams: { sourceImage: foreign.image } }],
      networkInterfaces: [{ network: 'global/networks/default' }],
    }),
  });
  assert.is(inserted.status, 200);
  await until('the foreign instance exists', async () => (gce.instances().some((i) => i.name === foreign.name) ? true : undefined), 10_000);
  const e = await refusal(cloud.launch(foreign));
  assert.equal([e.code, e.retryable], ['alreadyExists', false]);
  assert.match(e.message, 'without the label managed-by=gyre-vm-service');
});

test("describe maps GCE's statuses (TERMINATED is stopped) and answers null for an instance the API does not know", async () => {
  gce.holdBoot(true);
  const launch = vm('true');
  assert.is((await cloud.launch(launch)).state, 'pending');
  assert.is((await cloud.describe(launch.name))?.state, 'pending');
  gce.holdBoot(false);
  assert.is((await cloud.describe(launch.name))?.state, 'running');
  const seen: Record<string, string | undefined> = {};
  for (const status of ['REPAIRING', 'STOPPING', 'SUSPENDING', 'SUSPENDED', 'STOPPED', 'TERMINATED'] as const) {
    gce.setStatus(launch.name, status);
    seen[status] = (await cloud.describe(launch.name))?.state;
  }
  assert.equal(seen, {
    REPAIRING: 'pending',
    STOPPING: 'stopping',
    SUSPENDING: 'stopping',
    SUSPENDED: 'terminated',
    STOPPED: 'terminated',
    TERMINATED: 'terminated',
  });
  assert.is(await cloud.describe('gyre-vm-never-started'), null);
  assert.ok(kinds().includes('get 404'));
});

test("terminate deletes the instance and kills its script's processes; terminating it again is not an error", async () => {
  const pidFile = join(out, 'sleeper');
  const launch = vm(`sleep 600 & echo $! > ${pidFile}`);
  await cloud.launch(launch);
  const sleeper = Number(await until('the script started its sleeper', fileHolds(pidFile), 10_000));
  assert.ok(alive(sleeper));
  await cloud.terminate(launch.name);
  assert.is(await cloud.describe(launch.name), null);
  await until('the sleeper is killed', async () => (alive(sleeper) ? undefined : true), 10_000);
  await cloud.terminate(launch.name);
  assert.ok(kinds().includes('delete 404'), kinds().join(', '));
});

test('rate limits (403 or 429 rateLimitExceeded) and server errors are retryable VmCloudErrors with the API message, asked once: the library does not retry', async () => {
  gce.failNext('insert', { code: 403, reason: 'rateLimitExceeded' });
  const limited = await refusal(cloud.launch(vm('true')));
  assert.equal([limited.code, limited.retryable], ['rateLimitExceeded', true]);
  assert.match(limited.message, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'");
  assert.match(limited.message, 'HTTP 403');

  gce.failNext('get', { code: 429, reason: 'rateLimitExceeded', message: 'Rate Limit Exceeded' });
  const tooMany = await refusal(cloud.describe('gyre-vm-any'));
  assert.equal([tooMany.code, tooMany.retryable], ['rateLimitExceeded', true]);
  assert.match(tooMany.message, 'Rate Limit Exceeded');

  gce.failNext('get', { code: 503, reason: 'backendError', message: 'Backend Error' });
  const unavailable = await refusal(cloud.describe('gyre-vm-any'));
  assert.equal([unavailable.code, unavailable.retryable], ['backendError', true]);
  assert.equal(kinds(), ['insert 403', 'get 429', 'get 503']);
});

test('ZONE_RESOURCE_POOL_EXHAUSTED in the operation is retryable and says so; a CPU quota, forbidden and an invalid request are not', async () => {
  gce.failNext('insert', { code: 503, reason: 'ZONE_RESOURCE_POOL_EXHAUSTED', inOperation: true });
  const launch = vm('true');
  const exhausted = await refusal(cloud.launch(launch));
  assert.equal([exhausted.code, exhausted.retryable], ['ZONE_RESOURCE_POOL_EXHAUSTED', true]);
  assert.match(exhausted.message, `The zone 'projects/${project}/zones/${zone}' does not have enough resources available`);
  assert.not.ok(gce.instances().some((i) => i.name === launch.name));

  gce.failNext('insert', { code: 403, reason: 'QUOTA_EXCEEDED', inOperation: true });
  const cpus = await refusal(cloud.launch(vm('true')));
  assert.equal([cpus.code, cpus.retryable], ['QUOTA_EXCEEDED', false]);
  assert.match(cpus.message, "Quota 'CPUS' exceeded");

  gce.failNext('insert', {
    code: 403,
    reason: 'QUOTA_EXCEEDED',
    message: "Quota exceeded for quota metric 'Instance create requests' and limit 'per minute'",
    inOperation: true,
  });
  assert.is((await refusal(cloud.launch(vm('true')))).retryable, true);

  gce.failNext('insert', { code: 403, reason: 'forbidden' });
  const forbidden = await refusal(cloud.launch(vm('true')));
  assert.equal([forbidden.code, forbidden.retryable], ['forbidden', false]);
  assert.match(forbidden.message, "Required 'compute.instances.create' permission");
  assert.match(forbidden.message, 'roles/compute.instanceAdmin.v1');

  const invalid = await refusal(cloud.launch(vm('true', { machineType: 'zones/us-east1-b/machineTypes/n2-standard-2' })));
  assert.equal([invalid.code, invalid.retryable], ['invalid', false]);

  const kept = vm('true');
  await cloud.launch(kept);
  gce.failNext('delete', { code: 403, reason: 'forbidden', message: "Required 'compute.instances.delete' permission", inOperation: true });
  const undeletable = await refusal(cloud.terminate(kept.name));
  assert.equal([undeletable.code, undeletable.retryable], ['forbidden', false]);
  assert.ok(await cloud.describe(kept.name));
});

test('a key the API does not know is refused (401), not retried, and no part of the private key is in the message', async () => {
  const stranger = keyPair().privateKey;
  const wrong = createGceCloud(settings({ serviceAccountJson: keyFile(stranger) }));
  try {
    const e = await refusal(wrong.describe('gyre-vm-any'));
    assert.equal([e.code, e.retryable], ['authError', false]);
    assert.match(e.message, 'HTTP 401');
    assert.match(e.message, 'serviceAccountJson');
    const body = pem(stranger)
      .split('\n')
      .filter((line) => line && !line.startsWith('-----'));
    assert.not.ok(e.message.includes('PRIVATE KEY'));
    assert.equal(
      body.filter((line) => e.message.includes(line)),
      [],
    );
    assert.equal(kinds(), ['get 401']);
  } finally {
    await wrong.close();
  }
});

test('an endpoint nothing listens on is a retryable error that names it', async () => {
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const nowhere = createGceCloud(settings({ endpoint }));
  try {
    const e = await refusal(nowhere.describe('gyre-vm-any'));
    assert.equal([e.code, e.retryable], ['ECONNREFUSED', true]);
    assert.match(e.message, `Compute Engine at ${endpoint} cannot be reached`);
  } finally {
    await nowhere.close();
  }
});

test('without a key, application default credentials apply: ones that cannot be loaded are a client error, not retried', async () => {
  const before = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GOOGLE_APPLICATION_CREDENTIALS = join(out, 'no-such-key.json');
  const adc = createGceCloud(settings({ serviceAccountJson: undefined }));
  try {
    const e = await refusal(adc.describe('gyre-vm-any'));
    assert.equal([e.code, e.retryable], ['clientError', false]);
    assert.match(e.message, 'no-such-key.json');
    assert.equal(gce.calls, []);
  } finally {
    if (before === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = before;
    await adc.close();
  }
});

test('an operation still running when a wait answers is waited for again; an abort stops the waiting', async () => {
  const slow = await startGceStandIn({ projectId: project, zone, serviceAccount, operationMs: 300, waitMs: 40 });
  const patient = createGceCloud(settings({ endpoint: slow.url }));
  try {
    const started = await patient.launch(vm('true'));
    assert.is(started.state, 'running');
    assert.ok(slow.calls.filter((c) => c.kind === 'operation').length >= 2, JSON.stringify(slow.calls));

    const controller = new AbortController();
    const launch = vm('true');
    const pending = patient.launch(launch, controller.signal);
    await until('the insert is being waited for', async () => (slow.calls.some((c) => c.kind === 'operation' && c.status === 200) ? true : undefined), 10_000);
    const reason = new Error('the worker stops');
    controller.abort(reason);
    try {
      await pending;
      assert.unreachable('the launch went on');
    } catch (e) {
      assert.is(e, reason);
    }
    // the instance goes on starting; launching the name again takes it
    assert.is((await patient.launch(launch)).cloudId, launch.name);
  } finally {
    await patient.close();
    await slow.close();
  }
});

test('WINDOWS instances carry their script as windows-startup-script-ps1, which sh never runs', async () => {
  const launch = vm('Write-Output gyre', { vmType: 'WINDOWS', image: 'projects/windows-cloud/global/images/family/windows-2022' });
  await cloud.launch(launch);
  const [instance] = gce.instances().filter((i) => i.name === launch.name);
  assert.equal(instance!.metadata, { 'windows-startup-script-ps1': 'Write-Output gyre' });
  assert.is(instance!.pid, null);
});

test('the settings say what is wrong, and never repeat the key', () => {
  const base = settings();
  const issue = (extra: Partial<GceSettings>) => {
    const parsed = gceSettings.safeParse({ ...base, ...extra });
    return parsed.success ? null : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  assert.is(issue({}), null);
  assert.is(issue({ serviceAccountJson: undefined, endpoint: undefined, subnetwork: undefined }), null);
  assert.match(issue({ zone: 'europe-west4' })!, 'zone: must be a Compute Engine zone such as us-central1-a');
  assert.match(issue({ endpoint: 'http://127.0.0.1:8085/compute/v1' })!, 'endpoint: must be an http or https URL of a host and port only');
  assert.match(issue({ serviceAccountJson: 'not json' })!, 'serviceAccountJson: the service account key is not JSON');
  const broken = JSON.stringify({
    ...JSON.parse(keyFile(privateKey)),
    private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n',
  });
  const message = issue({ serviceAccountJson: broken })!;
  assert.match(message, 'has a "private_key" that is not a PEM private key');
  assert.not.ok(message.includes('MIIEvQ'));
  assert.throws(() => createGceCloud({ ...base, zone: 'nowhere' } as GceSettings));
  const typed: VmCloud = cloud;
  assert.is(typed.provider, 'GCP');
});

test.run();

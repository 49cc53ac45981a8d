import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Ec2StandIn, processGone, startEc2StandIn } from '../../test/support/ec2-standin.ts';
import { until } from '../../test/support/jobs.ts';
import { freePort } from '../../test/support/ports.ts';
import { rejects } from '../../test/support/rejects.ts';
import { createEc2Cloud, type Ec2Settings, ec2Settings } from './ec2.ts';
import { managedByTag, VmCloudError, type VmLaunch } from './port.ts';

const test = suite('adapters/vm/ec2');
const secret = 'canary+Ec2Secret/7f3a9c41d2e8b6054a1f';
const keyId = 'AKIAGYRETEST00000001';
let ec2: Ec2StandIn;
let out: string;
let endpointBefore: string | undefined;
const setEndpoint = (url: string) => (process.env.AWS_ENDPOINT_URL_EC2 = url);

test.before.each(async () => {
  ec2 = await startEc2StandIn({ credentials: { accessKeyId: keyId, secretAccessKey: secret }, images: ['ami-0gyre1', 'ami-0gyre2'], killGraceMs: 1500 });
  out = mkdtempSync(join(tmpdir(), 'ec2-test-'));
  endpointBefore = process.env.AWS_ENDPOINT_URL_EC2;
  setEndpoint(ec2.url);
});
test.after.each(async () => {
  if (endpointBefore === undefined) delete process.env.AWS_ENDPOINT_URL_EC2;
  else process.env.AWS_ENDPOINT_URL_EC2 = endpointBefore;
  await ec2.close();
  rmSync(out, { recursive: true, force: true });
});

const settings = (extra: Partial<Ec2Settings> = {}): Ec2Settings =>
  ec2Settings.parse({
    region: 'eu-west-1',
    subnetId: 'subnet-0abc',
    securityGroupId: 'sg-0abc',
    credentials: { accessKeyId: keyId, secretAccessKey: secret },
    ...extra,
  });
const launchOf = (name: string, startupScript: string, extra: Partial<VmLaunch> = {}): VmLaunch => ({
  name,
  vmType: 'LINUX',
  image: 'ami-0gyre1',
  machineType: 'm5.large',
  startupScript,
  ...extra,
});
const isCloudError = (code: string, retryable: boolean) => (e: unknown) => e instanceof VmCloudError && e.code === code && e.retryable === retryable;
const running = (cloud: ReturnType<typeof createEc2Cloud>, id: string) =>
  until(`${id} to run`, async () => ((await cloud.describe(id))?.state === 'running' ? true : undefined), 10_000);

test('settings: subnet and security group ids are checked; credentials may be left to the SDK', () => {
  assert.not.ok(ec2Settings.safeParse({ region: 'eu-west-1', subnetId: 'net-1', securityGroupId: 'sg-1' }).success);
  assert.not.ok(ec2Settings.safeParse({ region: 'eu-west-1', subnetId: 'subnet-1', securityGroupId: 'group-1' }).success);
  assert.equal(ec2Settings.parse({ region: 'eu-west-1', subnetId: 'subnet-1', securityGroupId: 'sg-1' }).credentials, undefined);
});

test('launch starts an instance of the image and type in the subnet and group, tagged (with its volumes) as Gyre’s, and runs the script as user data', async () => {
  const cloud = createEc2Cloud(settings({ keyName: 'ops' }));
  const marker = join(out, 'ran');
  const started = await cloud.launch(launchOf('vm-1', `echo booted\necho "$0" > ${JSON.stringify(marker)}`));
  assert.equal([started.name, started.state, started.address], ['vm-1', 'pending', null]);
  assert.match(started.cloudId, /^i-/);
  const run = ec2.calls.find((c) => c.action === 'RunInstances')!.params;
  assert.equal(
    [run.ImageId, run.InstanceType, run.SubnetId, run['SecurityGroupId.1'], run.KeyName, run.ClientToken, run.MinCount, run.MaxCount],
    ['ami-0gyre1', 'm5.large', 'subnet-0abc', 'sg-0abc', 'ops', 'vm-1', '1', '1'],
  );
  const i = ec2.instance(started.cloudId);
  const tags = { [managedByTag.key]: managedByTag.value, 'gyre-instance': 'vm-1', Name: 'gyre-vm-1' };
  assert.equal(i.tags, tags);
  assert.equal(i.volumeTags, tags);
  assert.is(managedByTag.value, 'gyre-vm-service');
  assert.ok(i.userData.startsWith('#!/bin/sh\necho booted\n'), 'a shebang first');
  await until('the script to run', async () => (existsSync(marker) ? true : undefined), 10_000);
  await running(cloud, started.cloudId);
  assert.equal(await cloud.describe(started.cloudId), { cloudId: started.cloudId, name: 'vm-1', state: 'running', address: '127.0.0.1' });
  assert.match(ec2.instance(started.cloudId).output(), 'booted');
});

test('user data: a script with its own shebang is kept; a Windows script is wrapped in <powershell>', async () => {
  const cloud = createEc2Cloud(settings());
  const bash = await cloud.launch(launchOf('vm-bash', '#!/bin/bash\necho hi', { vmType: 'REMOTE_DOCKER' }));
  assert.is(ec2.instance(bash.cloudId).userData, '#!/bin/bash\necho hi');
  const win = await cloud.launch(launchOf('vm-win', 'Write-Output hi', { vmType: 'WINDOWS', image: 'ami-0gyre2' }));
  assert.is(ec2.instance(win.cloudId).userData, '<powershell>\nWrite-Output hi\n</powershell>');
});

test('the same name launched twice starts one instance (ClientToken)', async () => {
  const cloud = createEc2Cloud(settings());
  const log = join(out, 'boots');
  const script = `echo boot >> ${JSON.stringify(log)}`;
  const first = await cloud.launch(launchOf('vm-once', script));
  await running(cloud, first.cloudId);
  const again = await cloud.launch(launchOf('vm-once', script));
  assert.is(again.cloudId, first.cloudId);
  assert.is(again.state, 'running');
  assert.is(ec2.instances().length, 1);
  assert.equal(
    ec2.calls.filter((c) => c.action === 'RunInstances').map((c) => c.params.ClientToken),
    ['vm-once', 'vm-once'],
  );
  assert.is(readFileSync(log, 'utf8'), 'boot\n');
});

test('describe: pending until booted, running with its address, stopping while it shuts down, then terminated; unknown is null', async () => {
  const cloud = createEc2Cloud(settings());
  ec2.holdBoot();
  // ignores SIGTERM (as does the sleep it starts), so it shuts down only at the grace's SIGKILL
  const vm = await cloud.launch(launchOf('vm-states', "trap '' TERM\nsleep 300"));
  assert.equal(await cloud.describe(vm.cloudId), { cloudId: vm.cloudId, name: 'vm-states', state: 'pending', address: null });
  ec2.resumeBoot();
  await running(cloud, vm.cloudId);
  assert.is((await cloud.describe(vm.cloudId))?.address, '127.0.0.1');
  await cloud.terminate(vm.cloudId);
  assert.is((await cloud.describe(vm.cloudId))?.state, 'stopping');
  await until('the instance to end', async () => ((await cloud.describe(vm.cloudId))?.state === 'terminated' ? true : undefined), 10_000);
  ec2.forget(vm.cloudId);
  // another process (another Gyre) never launched it: gone
  assert.is(await createEc2Cloud(settings()).describe(vm.cloudId), null);
  assert.is(await cloud.describe('i-0123456789abcdef0'), null);
});

test('describe: an instance this process launched a moment ago that EC2 does not know yet is pending, not gone', async () => {
  const cloud = createEc2Cloud(settings());
  const vm = await cloud.launch(launchOf('vm-young', 'true'));
  ec2.forget(vm.cloudId); // as if DescribeInstances had not caught up with RunInstances
  assert.equal(await cloud.describe(vm.cloudId), { cloudId: vm.cloudId, name: 'vm-young', state: 'pending', address: null });
  // and ending it cannot be taken as done: it must be tried again
  await rejects(() => cloud.terminate(vm.cloudId), isCloudError('InvalidInstanceID.NotFound', true));
  await createEc2Cloud(settings()).terminate(vm.cloudId);
});

test("terminate kills the script's processes, and ending an instance again is no error", async () => {
  const cloud = createEc2Cloud(settings());
  const pidFile = join(out, 'sleeper.pid');
  const vm = await cloud.launch(launchOf('vm-end', `sleep 300 &\necho $! > ${JSON.stringify(pidFile)}\nwait`));
  const sleeper = await until('the script to start its sleeper', async () => {
    const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
    return text ? Number(text) : undefined;
  });
  const shell = ec2.instance(vm.cloudId).pid!;
  assert.not.ok(processGone(sleeper));
  await cloud.terminate(vm.cloudId);
  await until('the script and its child to be killed', async () => (processGone(shell) && processGone(sleeper) ? true : undefined), 10_000);
  await cloud.terminate(vm.cloudId);
  await until('the instance to end', async () => ((await cloud.describe(vm.cloudId))?.state === 'terminated' ? true : undefined), 10_000);
  assert.equal(
    ec2.calls.filter((c) => c.action === 'TerminateInstances').map((c) => c.params['InstanceId.1']),
    [vm.cloudId, vm.cloudId],
  );
  ec2.forget(vm.cloudId);
  await createEc2Cloud(settings()).terminate(vm.cloudId);
});

test('throttling, no capacity and server errors are retryable, with AWS’s code and message', async () => {
  const cloud = createEc2Cloud(settings());
  ec2.failNext('RunInstances', 'RequestLimitExceeded', 'Request limit exceeded.', 2, 503);
  const throttled = (await rejects(() => cloud.launch(launchOf('vm-t', 'true')), isCloudError('RequestLimitExceeded', true))) as Error;
  assert.match(throttled.message, 'Request limit exceeded.');
  assert.is(ec2.calls.length, 2, 'the SDK tries twice, no more');
  ec2.failNext(
    'RunInstances',
    'InsufficientInstanceCapacity',
    'We currently do not have sufficient m5.large capacity in the Availability Zone you requested.',
    2,
    500,
  );
  const full = (await rejects(() => cloud.launch(launchOf('vm-c', 'true')), isCloudError('InsufficientInstanceCapacity', true))) as Error;
  assert.match(full.message, 'We currently do not have sufficient m5.large capacity');
  ec2.failNext('DescribeInstances', 'Unavailable', 'The server is overloaded.', 2, 503);
  await rejects(() => cloud.describe('i-0123456789abcdef0'), isCloudError('Unavailable', true));
  ec2.failNext('TerminateInstances', 'SomethingNew', 'Something went wrong on our side.', 2, 500);
  await rejects(() => cloud.terminate('i-0123456789abcdef0'), isCloudError('SomethingNew', true));
});

test('wrong keys are refused for good, and the secret key is never in the message', async () => {
  const unknownKey = createEc2Cloud(settings({ credentials: { accessKeyId: 'AKIAUNKNOWN000000001', secretAccessKey: secret } }));
  const refused = (await rejects(() => unknownKey.launch(launchOf('vm-a', 'true')), isCloudError('AuthFailure', false))) as Error;
  assert.match(refused.message, 'AWS was not able to validate the provided access credentials');
  assert.not.match(refused.message, secret);
  const wrongSecret = createEc2Cloud(settings({ credentials: { accessKeyId: keyId, secretAccessKey: `${secret}x` } }));
  const bad = (await rejects(() => wrongSecret.describe('i-0123456789abcdef0'), isCloudError('SignatureDoesNotMatch', false))) as Error;
  assert.not.match(bad.message, secret);
  assert.is(ec2.calls.length, 0);
});

test('client errors are not retryable: an unknown image, a malformed id', async () => {
  const cloud = createEc2Cloud(settings());
  const e = (await rejects(() => cloud.launch(launchOf('vm-ami', 'true', { image: 'ami-0missing' })), isCloudError('InvalidAMIID.NotFound', false))) as Error;
  assert.match(e.message, "The image id '[ami-0missing]' does not exist");
  await rejects(() => cloud.describe('not-an-id'), isCloudError('InvalidInstanceID.Malformed', false));
});

test('a script over 16 KB is refused before EC2 is asked; one of 16 KB launches', async () => {
  const cloud = createEc2Cloud(settings());
  const shebang = '#!/bin/sh\n';
  const fits = `${shebang}${'#'.repeat(16 * 1024 - shebang.length - 1)}\n`;
  const big = await rejects(() => cloud.launch(launchOf('vm-big', `${fits}#`)), isCloudError('UserDataTooLarge', false));
  assert.match((big as Error).message, 'vm-big');
  assert.is(ec2.calls.length, 0);
  const vm = await cloud.launch(launchOf('vm-fits', fits));
  assert.is(ec2.instance(vm.cloudId).userData.length, 16 * 1024);
});

test('no connection is retryable', async () => {
  setEndpoint(`http://127.0.0.1:${await freePort()}`);
  await rejects(() => createEc2Cloud(settings()).describe('i-0123456789abcdef0'), isCloudError('ECONNREFUSED', true));
});

test('an aborted call rejects with the abort reason', async () => {
  const controller = new AbortController();
  const reason = new Error('worker stopping');
  controller.abort(reason);
  await rejects(
    () => createEc2Cloud(settings()).describe('i-0123456789abcdef0', controller.signal),
    (e) => e === reason,
  );
});

test.run();

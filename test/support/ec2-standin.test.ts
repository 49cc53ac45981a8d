import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  type EC2ClientConfig,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Ec2StandIn, processGone, startEc2StandIn } from './ec2-standin.ts';
import { until } from './jobs.ts';
import { rejects } from './rejects.ts';

const test = suite('test/support/ec2-standin');
let ec2: Ec2StandIn;
test.before.each(async () => {
  ec2 = await startEc2StandIn({ images: ['ami-0standin'], killGraceMs: 300 });
});
test.after.each(() => ec2.close());

const client = (config: Partial<EC2ClientConfig> = {}) =>
  new EC2Client({ region: 'us-east-1', endpoint: ec2.url, credentials: ec2.credentials, maxAttempts: 1, ...config });
const run = (extra: Partial<RunInstancesCommandInput> = {}) =>
  new RunInstancesCommand({
    MinCount: 1,
    MaxCount: 1,
    ImageId: 'ami-0standin',
    InstanceType: 't3.micro',
    SubnetId: 'subnet-1',
    SecurityGroupIds: ['sg-1', 'sg-2'],
    ...extra,
  });
const awsError = (name: string, status: number) => (e: unknown) =>
  (e as { name?: string }).name === name && (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === status;

test('SigV4: a wrong secret, a body changed after signing, an unknown key and no signature are refused, and reach no action', async () => {
  const wrongSecret = client({ credentials: { ...ec2.credentials, secretAccessKey: `${ec2.credentials.secretAccessKey}x` } });
  const e = (await rejects(() => wrongSecret.send(new DescribeInstancesCommand({})), awsError('SignatureDoesNotMatch', 403))) as Error;
  assert.match(e.message, 'The request signature we calculated does not match');

  const tampering = client();
  // the deserialize step runs after signing, just before the request is sent
  tampering.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body?: string };
      request.body = String(request.body).replace('ami-0standin', 'ami-0changed');
      return next(args);
    },
    { step: 'deserialize', priority: 'low' },
  );
  await rejects(() => tampering.send(run()), awsError('SignatureDoesNotMatch', 403));

  const stranger = client({ credentials: { accessKeyId: 'AKIASTRANGER00000001', secretAccessKey: ec2.credentials.secretAccessKey } });
  await rejects(() => stranger.send(new DescribeInstancesCommand({})), awsError('AuthFailure', 401));

  const unsigned = await fetch(ec2.url, { method: 'POST', body: 'Action=DescribeInstances&Version=2016-11-15' });
  assert.is(unsigned.status, 401);
  assert.match(await unsigned.text(), '<Code>MissingAuthenticationToken</Code>');

  const late = client({ systemClockOffset: -3_600_000 }); // one attempt: the SDK would correct its clock from the answer's Date and ask again
  await rejects(() => late.send(new DescribeInstancesCommand({})), awsError('RequestExpired', 400));

  assert.equal(ec2.calls, []);
  assert.equal((await client().send(new DescribeInstancesCommand({}))).Reservations, []);
  assert.equal(
    ec2.calls.map((c) => c.action),
    ['DescribeInstances'],
  );
});

test('the XML answers parse with the SDK: RunInstances, DescribeInstances, CreateTags, TerminateInstances and errors', async () => {
  const ec = client();
  ec2.holdBoot();
  const launched = await ec.send(
    run({
      ClientToken: 'token-1',
      KeyName: 'ops',
      UserData: Buffer.from('echo hello from user data').toString('base64'),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'ManagedBy', Value: 'gyre-vm-service' }] },
        { ResourceType: 'volume', Tags: [{ Key: 'ManagedBy', Value: 'gyre-vm-service' }] },
      ],
    }),
  );
  const [i] = launched.Instances!;
  assert.match(launched.ReservationId!, /^r-/);
  assert.match(i!.InstanceId!, /^i-[0-9a-f]{17}$/);
  assert.equal(
    [i!.ImageId, i!.InstanceType, i!.State, i!.ClientToken, i!.KeyName, i!.SubnetId, i!.PrivateIpAddress],
    ['ami-0standin', 't3.micro', { Code: 0, Name: 'pending' }, 'token-1', 'ops', 'subnet-1', undefined],
  );
  assert.equal(
    i!.SecurityGroups!.map((g) => g.GroupId),
    ['sg-1', 'sg-2'],
  );
  assert.equal(i!.Tags, [{ Key: 'ManagedBy', Value: 'gyre-vm-service' }]);
  assert.ok(i!.LaunchTime instanceof Date);
  assert.is(ec2.instance(i!.InstanceId!).userData, 'echo hello from user data');

  ec2.resumeBoot();
  await until('the instance to boot', async () => (ec2.instance(i!.InstanceId!).output().includes('hello from user data') ? true : undefined), 10_000);
  const described = await ec.send(new DescribeInstancesCommand({ InstanceIds: [i!.InstanceId!] }));
  const [d] = described.Reservations!.flatMap((r) => r.Instances!);
  assert.equal([d!.State, d!.PrivateIpAddress], [{ Code: 16, Name: 'running' }, '127.0.0.1']);
  const volumeId = d!.BlockDeviceMappings![0]!.Ebs!.VolumeId!;
  assert.is(volumeId, ec2.instance(i!.InstanceId!).volumeId);

  await ec.send(new CreateTagsCommand({ Resources: [i!.InstanceId!, volumeId], Tags: [{ Key: 'team', Value: 'ci & <builds>' }] }));
  const tagged = (await ec.send(new DescribeInstancesCommand({ InstanceIds: [i!.InstanceId!] }))).Reservations![0]!.Instances![0]!;
  assert.equal(tagged.Tags, [
    { Key: 'ManagedBy', Value: 'gyre-vm-service' },
    { Key: 'team', Value: 'ci & <builds>' },
  ]);
  assert.equal(ec2.instance(i!.InstanceId!).volumeTags, { ManagedBy: 'gyre-vm-service', team: 'ci & <builds>' });

  const ended = await ec.send(new TerminateInstancesCommand({ InstanceIds: [i!.InstanceId!] }));
  assert.equal(ended.TerminatingInstances, [
    { InstanceId: i!.InstanceId!, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } },
  ]);

  const missing = (await rejects(
    () => ec.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
    awsError('InvalidInstanceID.NotFound', 400),
  )) as Error;
  assert.is(missing.message, "The instance ID 'i-0123456789abcdef0' does not exist");
  ec2.failNext('DescribeInstances', 'RequestLimitExceeded', 'Request limit exceeded.', 1, 503);
  const throttled = (await rejects(() => ec.send(new DescribeInstancesCommand({})), awsError('RequestLimitExceeded', 503))) as Error;
  assert.is(throttled.message, 'Request limit exceeded.');
  assert.ok(await ec.send(new DescribeInstancesCommand({})), 'failNext fails only as often as told');
});

test('RunInstances: a token again gives the same instance, with other parameters is refused; unknown images and oversized user data are refused', async () => {
  const ec = client();
  const first = (await ec.send(run({ ClientToken: 'same' }))).Instances![0]!.InstanceId;
  assert.is((await ec.send(run({ ClientToken: 'same' }))).Instances![0]!.InstanceId, first);
  await rejects(() => ec.send(run({ ClientToken: 'same', InstanceType: 'm5.large' })), awsError('IdempotentParameterMismatch', 400));
  await rejects(() => ec.send(run({ ImageId: 'ami-0nothere' })), awsError('InvalidAMIID.NotFound', 400));
  await rejects(() => ec.send(run({ UserData: Buffer.alloc(16 * 1024 + 1, 'a').toString('base64') })), awsError('InvalidParameterValue', 400));
  await rejects(() => ec.send(run({ UserData: 'not base64!' })), awsError('InvalidParameterValue', 400));
  assert.is(ec2.instances().length, 1);
});

test('booting runs the user data in its own process group; terminating kills it; close() kills what still runs', async () => {
  const ec = client();
  const id = (await ec.send(run({ UserData: Buffer.from("trap '' TERM\necho up\nsleep 300").toString('base64') }))).Instances![0]!.InstanceId!;
  const pid = await until('the script to start', async () => (ec2.instance(id).output().includes('up') ? ec2.instance(id).pid! : undefined), 10_000);
  assert.not.ok(processGone(pid));
  await ec.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  assert.is(ec2.instance(id).state, 'shutting-down', 'the script ignores SIGTERM: it lasts until the grace ends');
  await until('the instance to end', async () => (ec2.instance(id).state === 'terminated' ? true : undefined), 10_000);
  assert.ok(processGone(pid));

  const other = (await ec.send(run({ UserData: Buffer.from('echo up\nsleep 300').toString('base64') }))).Instances![0]!.InstanceId!;
  const last = await until('the script to start', async () => (ec2.instance(other).output().includes('up') ? ec2.instance(other).pid! : undefined), 10_000);
  await ec2.close();
  await until('close() to kill it', async () => (processGone(last) ? true : undefined), 5_000);
  ec2 = await startEc2StandIn(); // for after.each
});

test('boot: false makes instances running without running their user data', async () => {
  await ec2.close();
  ec2 = await startEc2StandIn({ boot: false });
  const id = (await client().send(run({ ImageId: 'ami-any', UserData: Buffer.from('echo no').toString('base64') }))).Instances![0]!.InstanceId!;
  await until('the instance to run', async () => (ec2.instance(id).state === 'running' ? true : undefined), 5_000);
  assert.equal([ec2.instance(id).pid, ec2.instance(id).output()], [null, '']);
});

test.run();

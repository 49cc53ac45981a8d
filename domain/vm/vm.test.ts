import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { ValidationError } from '../errors.ts';
import { eventRegistry } from '../events/catalog.ts';
import { type VmInstanceCommand, vmInstanceDecider } from './instance.ts';
import { parseVmServiceInput, type VmServiceCommand, vmServiceDecider, vmSpecOf, vmTypeOfImage } from './service.ts';
import { agentStartupScript, remoteDockerStartupScript } from './startup-script.ts';

const test = suite('domain/vm');
const sealed = 'gyre:aes-256-gcm:c2VhbGVk';
const aws = { region: 'us-east-1', subnetId: 'subnet-0123456789abcdef0', securityGroupId: 'sg-0123abcd', linuxAmi: 'ami-0abc12345678' };
const configure = (input: unknown, credentials: VmServiceCommand['credentials']): VmServiceCommand => ({
  type: 'configure',
  input: parseVmServiceInput(input),
  credentials,
});
const service = deciderSpec(vmServiceDecider, { registry: eventRegistry });

test('input: what each provider requires, key pairs given together, prescaled 0 to 5, each VM type once; messages never hold a value', () => {
  const refused = (input: unknown, pattern: RegExp) =>
    assert.throws(
      () => parseVmServiceInput(input),
      (e: unknown) => e instanceof ValidationError && pattern.test(e.message) && !e.message.includes('canary-secret'),
    );
  refused({ provider: 'AWS' }, /aws: is required for provider AWS/);
  refused({ provider: 'GCP', aws }, /gcp: is required for provider GCP/);
  refused({ provider: 'AWS', aws: { ...aws, subnetId: 'net-1' } }, /aws\.subnetId: must be a subnet id/);
  refused({ provider: 'AWS', aws: { ...aws, secretAccessKey: 'canary-secret' } }, /accessKeyId and secretAccessKey together/);
  refused({ provider: 'AWS', aws: { ...aws, accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: null } }, /together/);
  refused({ provider: 'AWS', aws, pools: [{ vmType: 'LINUX', prescaled: 6 }] }, /pools\.0\.prescaled/);
  refused(
    {
      provider: 'AWS',
      aws,
      pools: [
        { vmType: 'LINUX', prescaled: 1 },
        { vmType: 'LINUX', prescaled: 2 },
      ],
    },
    /LINUX is named twice/,
  );
  refused(
    {
      provider: 'GCP',
      gcp: { projectId: 'my-project', zone: 'us-east1-b', network: 'default', linuxImage: 'ubuntu', serviceAccountJson: '{"canary-secret":1}' },
    },
    /service account key file/,
  );
  assert.equal(parseVmServiceInput({ provider: 'AWS', aws }).pools, []);
});

test('configure: the whole configuration each time, every VM type with its pool; credentials kept, dropped or replaced', () => {
  const input = { provider: 'AWS', aws, pools: [{ vmType: 'LINUX', prescaled: 2 }] };
  const first = service.run(configure(input, { kind: 'sealed', sealed, shown: 'access key xxxxMPLE' }));
  assert.equal(first.state?.settings.pools, [
    { vmType: 'LINUX', prescaled: 2 },
    { vmType: 'WINDOWS', prescaled: 0 },
    { vmType: 'REMOTE_DOCKER', prescaled: 0 },
  ]);
  assert.equal(first.state?.settings.aws, { ...aws, windowsAmi: null });
  const kept = service
    .given(first.history)
    .when(configure({ ...input, pools: [] }, { kind: 'keep' }))
    .events()[0]!;
  assert.equal([kept.data.sealedCredentials, kept.data.settings.credentials], [sealed, 'access key xxxxMPLE']);
  const dropped = service
    .given(first.history)
    .when(configure(input, { kind: 'default' }))
    .events()[0]!;
  assert.equal([dropped.data.sealedCredentials, dropped.data.settings.credentials], [null, null]);
  // the audit log shows the settings, never the sealed credentials
  assert.equal(Object.keys(eventRegistry.publicPayload('vm_service.configure', kept.data)), ['settings']);
});

test('configure: moving to another cloud needs its credentials (or null); a Windows pool needs a Windows image', () => {
  const { history } = service.run(configure({ provider: 'AWS', aws }, { kind: 'sealed', sealed, shown: 'access key xxxxMPLE' }));
  const gcp = { projectId: 'my-project', zone: 'us-east1-b', network: 'default', linuxImage: 'projects/p/global/images/gyre' };
  service
    .given(history)
    .when(configure({ provider: 'GCP', gcp }, { kind: 'keep' }))
    .thenThrows('VM_CREDENTIALS_REQUIRED', /give serviceAccountJson, or null/);
  assert.equal(
    service
      .given(history)
      .when(configure({ provider: 'GCP', gcp }, { kind: 'default' }))
      .events()[0]!.data.settings.gcp,
    {
      ...gcp,
      subnetwork: null,
      windowsImage: null,
    },
  );
  service
    .given([])
    .when(configure({ provider: 'AWS', aws, pools: [{ vmType: 'WINDOWS', prescaled: 1 }] }, { kind: 'default' }))
    .thenThrows('VM_NO_WINDOWS_IMAGE', /aws\.windowsAmi/);
  const remote = service.run(configure({ provider: 'AWS', aws, pools: [{ vmType: 'REMOTE_DOCKER', prescaled: 2 }] }, { kind: 'default' }));
  assert.equal(remote.state?.settings.pools.find((p) => p.vmType === 'REMOTE_DOCKER')?.prescaled, 2);
});

test('a machine image runs on the configured image of its OS, at the size of its class', () => {
  const { state } = service.run(configure({ provider: 'AWS', aws: { ...aws, windowsAmi: 'ami-0feed1234567' } }, { kind: 'default' }));
  assert.is(vmTypeOfImage('ubuntu-2204:current'), 'LINUX');
  assert.is(vmTypeOfImage(null), 'LINUX');
  assert.is(vmTypeOfImage('windows-server-2022-gui:current'), 'WINDOWS');
  assert.equal(vmSpecOf(state!.settings, 'LINUX', 'large'), { image: aws.linuxAmi, machineType: 'm5.xlarge' });
  assert.equal(vmSpecOf(state!.settings, 'WINDOWS', 'medium'), { image: 'ami-0feed1234567', machineType: 'm5.large' });
  const { state: bare } = service.run(configure({ provider: 'AWS', aws }, { kind: 'default' }));
  assert.is(vmSpecOf(bare!.settings, 'WINDOWS', 'medium'), null);
});

const instance = deciderSpec(vmInstanceDecider, { registry: eventRegistry });
const ids = { instanceId: 'i1', provider: 'AWS', vmType: 'LINUX' } as const;
const request = (task: { jobId: string; taskIndex: number; jobName: string } | null): VmInstanceCommand => ({
  type: 'request',
  ...ids,
  image: 'ami-0abc12345678',
  machineType: 'm5.large',
  task,
  tokenHash: 'h',
  sealedToken: 's',
  sealedEngineTls: null,
});
const task = { jobId: 'j1', taskIndex: 0, jobName: 'build' };

test("an instance's life: requested, started (the cloud's id once), ended once; the audit log shows neither token nor hash", () => {
  const { history, state } = instance.run(
    request(task),
    { type: 'start', cloudId: 'i-0abc', address: '10.0.0.5' },
    { type: 'start', cloudId: 'i-0abc', address: '10.0.0.5' },
    { type: 'fail', code: 'VM_NOT_READY', reason: 'late' },
    { type: 'fail', code: 'VM_NOT_READY', reason: 'late' },
    { type: 'terminate', reason: 'it failed' },
  );
  assert.equal(
    history.map((e) => e.type),
    ['vm.instance.request', 'vm.instance.start', 'vm.instance.fail', 'vm.instance.terminate'],
  );
  assert.ok(state?.terminated && state.failed && state.forTask);
  assert.equal(Object.keys(eventRegistry.publicPayload('vm.instance.request', history[0]!.data)).sort(), [
    'image',
    'instanceId',
    'machineType',
    'provider',
    'task',
    'vmType',
  ]);
  instance.given(history).when({ type: 'terminate', reason: 'again' }).then([]);
});

test('an instance is ready once, only once started, and not after it failed; the ready event names its address', () => {
  const started = instance.run(request(task), { type: 'start', cloudId: 'i-0abc', address: '10.0.0.5' }).history;
  instance
    .given(instance.then([], request(task)))
    .when({ type: 'ready', address: null })
    .thenThrows('VM_NOT_STARTED');
  const ready = instance.given(started).when({ type: 'ready', address: null }).history();
  assert.equal(ready.at(-1)?.data, { instanceId: 'i1', provider: 'AWS', vmType: 'LINUX', cloudId: 'i-0abc', address: '10.0.0.5' });
  instance.given(ready).when({ type: 'ready', address: '10.0.0.6' }).then([]);
  instance
    .given(instance.then(started, { type: 'fail', code: 'VM_NOT_READY', reason: 'late' }))
    .when({ type: 'ready', address: null })
    .then([]);
});

test('a prescaled instance is given one task: the same task again changes nothing, another is refused, as is one that ended', () => {
  const { history } = instance.run(request(null), { type: 'start', cloudId: 'i-0abc', address: null });
  const given = instance.given(history).when({ type: 'assign', task }).history();
  instance.given(given).when({ type: 'assign', task }).then([]);
  instance
    .given(given)
    .when({ type: 'assign', task: { ...task, jobId: 'j2' } })
    .thenThrows('VM_TAKEN');
  instance
    .given(instance.then(history, { type: 'terminate', reason: 'pool lowered' }))
    .when({ type: 'assign', task })
    .thenThrows('VM_TAKEN', /terminated/);
  instance
    .given(instance.then(history, { type: 'fail', code: 'VM_LOST', reason: 'gone' }))
    .when({ type: 'assign', task })
    .thenThrows('VM_TAKEN', /failed/);
});

test("the start-up script runs the one-shot agent with the instance's token, every value quoted for the shell", () => {
  const script = agentStartupScript({
    agentCommand: ['node', '/opt/gyre it/bin/gyre.mjs'],
    gyreUrl: 'https://ci.example.com',
    token: "to'ken",
    agentName: 'vm-i1',
  });
  assert.ok(script.startsWith('#!/bin/sh\n'));
  assert.match(script, /GYRE_TOKEN='to'\\''ken'/);
  assert.match(script, /exec 'node' '\/opt\/gyre it\/bin\/gyre\.mjs' agent --one-shot --name 'vm-i1' --work-dir "\$work"/);
});

test("a remote Docker engine's script signs its server key with the instance's CA, drops the CA's key, and asks for client certificates on 2376", () => {
  const script = remoteDockerStartupScript({
    dockerdCommand: ['dockerd', '--data-root', '/var/lib/docker two'],
    name: 'rd-i1',
    caCert: '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n',
    caKey: '-----BEGIN RSA PRIVATE KEY-----\nS0VZ\n-----END RSA PRIVATE KEY-----\n',
  });
  assert.ok(script.startsWith('#!/bin/sh\n'));
  assert.match(script, /cat > ca-key\.pem <<'GYRE_CA_KEY'\n-----BEGIN RSA PRIVATE KEY-----\nS0VZ\n-----END RSA PRIVATE KEY-----\nGYRE_CA_KEY\n/);
  assert.match(script, /openssl x509 -req -in server\.csr -CA ca\.pem -CAkey ca-key\.pem/);
  assert.ok(script.indexOf('rm -f ca-key.pem') < script.indexOf('exec '));
  assert.match(script, /exec 'dockerd' '--data-root' '\/var\/lib\/docker two' --tlsverify --tlscacert "\$tls\/ca\.pem" .* -H tcp:\/\/0\.0\.0\.0:2376\n/);
});

test.run();

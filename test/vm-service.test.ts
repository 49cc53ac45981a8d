// runs on the embedded database only: the clouds, the VMs' agents and the pools are its subject; the authorization matrix configures the VM service on PostgreSQL too
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { vmInstanceStream } from '../domain/vm/instance.ts';
import { vmInstanceOfTask } from '../projections/vm.ts';
import { type Ec2StandIn, processGone, startEc2StandIn } from './support/ec2-standin.ts';
import { type GceStandIn, startGceStandIn } from './support/gce-standin.ts';
import { dockerForTests } from './support/docker.ts';
import { gitRepo } from './support/git-repo.ts';
import { loggedEvents, restartTestGyre, startTestGyre, type TestGyre } from './support/gyre.ts';
import { ensureTestImage } from './support/images.ts';
import { finished, ok, triggerOneJob, until } from './support/jobs.ts';
import { freePort } from './support/ports.ts';

/**
 * The VM service on EC2: the real AWS SDK, pointed by AWS_ENDPOINT_URL_EC2 at a stand-in EC2 Query API
 * on 127.0.0.1 that checks each request's signature and "boots" an instance by running its user data
 * as a local process, so a machine job really goes VM → one-shot `gyre agent` over Gyre's real HTTP
 * port → finished job → terminated instance.
 */
const root = resolve(import.meta.dirname, '..');
const slug = 'gh/acme/vms';
const agentCommand = `${process.execPath} --import ${import.meta.resolve('tsx')} ${join(root, 'bin', 'gyre.ts')}`;
const keys = { accessKeyId: 'AKIAGYRETEST0000CANR', secretAccessKey: `vm-secret-canary-${randomBytes(6).toString('hex')}` };
const aws = { region: 'us-east-1', subnetId: 'subnet-0123456789abcdef0', securityGroupId: 'sg-0123abcd', linuxAmi: 'ami-0123456789abcdef0' };
const configure = `mutation($input: VmServiceInput!) { configureVmService(input: $input) {
  provider credentials aws { region subnetId securityGroupId linuxAmi windowsAmi } pools { vmType prescaled idle busy } } }`;

type Instance = { id: string; cloudId: string | null; status: string; jobId: string | null; reason: string | null };

/** A Gyre on a real port that the VMs' agents reach, a project on a real repository, and a stand-in EC2. */
const fixture = (env: Record<string, string> = {}) => {
  const f = {
    g: null as unknown as TestGyre,
    ec2: null as unknown as Ec2StandIn,
    repo: null as unknown as ReturnType<typeof gitRepo>,
    logs: [] as string[],
    env: {} as Record<string, string>,
    saved: process.env.AWS_ENDPOINT_URL_EC2,
    async start() {
      f.ec2 = await startEc2StandIn({ credentials: keys });
      // the SDK's own setting, as an operator would set it for an EC2-compatible cloud
      process.env.AWS_ENDPOINT_URL_EC2 = f.ec2.url;
      const port = await freePort();
      f.env = {
        GYRE_VM_AGENT_COMMAND: agentCommand,
        GYRE_PUBLIC_URL: `http://127.0.0.1:${port}`,
        GYRE_LOG_LEVEL: 'info',
        // a restart opens another data directory: the same master key, as the servers of a cluster share
        GYRE_MASTER_KEY: randomBytes(32).toString('base64'),
        ...env,
      };
      f.g = await startTestGyre(f.env, { logStream: { write: (line) => void f.logs.push(line) } });
      await f.g.app.listen({ port, host: '127.0.0.1' });
      f.repo = gitRepo();
      f.repo.commit('version: 2.1\nworkflows: {}\n', 'empty');
      await ok(f.g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${f.repo.dir}"}) { id } }`);
    },
    configure: (input: Record<string, unknown>) => ok(f.g, configure, { input }),
    /** Stops this Gyre and starts another on the same database and port, as a restart (or a second server taking over) does. */
    async restart() {
      const port = Number(new URL(f.env.GYRE_PUBLIC_URL!).port);
      f.g = await restartTestGyre(f.g, f.env, { port, logStream: { write: (line) => void f.logs.push(line) } });
    },
    /** Commits a one-job machine config and triggers it; the job's id once planned. */
    async run(command: string, resourceClass = 'medium') {
      f.repo.commit(`version: 2.1
jobs:
  build:
    machine:
      image: ubuntu-2204:current
    resource_class: ${resourceClass}
    steps:
      - run: ${JSON.stringify(command)}
workflows:
  main: {jobs: [build]}
`);
      return triggerOneJob(f.g, slug);
    },
    instances: async () => ((await ok(f.g, '{ vmService { instances { id cloudId status jobId reason } } }')).vmService as { instances: Instance[] }).instances,
    async stop() {
      await f.g?.stop();
      await f.ec2?.close();
      f.repo?.remove();
      if (f.saved === undefined) delete process.env.AWS_ENDPOINT_URL_EC2;
      else process.env.AWS_ENDPOINT_URL_EC2 = f.saved;
    },
  };
  return f;
};

const job = async (g: TestGyre, id: string) =>
  (await ok(g, 'query($id: ID!) { job(id: $id) { status agent tasks { status reason } } }', { id })).job as {
    status: string;
    agent: string | null;
    tasks: Array<{ status: string; reason: string | null }>;
  };
const runsOf = (ec2: Ec2StandIn) => ec2.calls.filter((c) => c.action === 'RunInstances').length;
const instanceEvents = async (g: TestGyre, instanceId: string) => (await g.services.store.readStream(vmInstanceStream(instanceId))).map((e) => e);

// ---------------------------------------------------------------------------------------------------

const test = suite('vm service: machine jobs on EC2 VMs (the AWS SDK against a stand-in EC2 on 127.0.0.1)');
// a REMOTE_DOCKER VM "boots" here: its engine is a second dockerd, kept apart from this machine's own (its data, state and pid file in a directory of its own; no bridge, as on this machine)
const engineDir = mkdtempSync(join(tmpdir(), 'gyre-remote-engine-'));
const dockerd = `dockerd --iptables=false --bridge=none --storage-driver=vfs --data-root ${engineDir}/data --exec-root ${engineDir}/exec --pidfile ${engineDir}/dockerd.pid`;
// Gyre's own agent runs docker jobs here (machine jobs are the VM service's)
const f = fixture({ GYRE_VM_READY_TIMEOUT_MS: '90000', GYRE_VM_DOCKERD_COMMAND: dockerd, GYRE_LOCAL_AGENT: 'true' });
test.before(async () => {
  await ensureTestImage(await dockerForTests(), ['cimg/base:stable']);
  await f.start();
});
test.after(async () => {
  await f.stop();
  // an engine killed with its VM leaves its data root mounted on itself, as dockerd mounts it
  for (const mount of readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? ''))
    if (mount.startsWith(engineDir)) execFileSync('umount', ['-l', mount]);
  rmSync(engineDir, { recursive: true, force: true });
});

test('configuring is for admins, validated, audited with the secret masked; the answer never shows the key', async () => {
  const refused = await f.g.gql(configure, { input: { provider: 'AWS', aws: { ...aws, subnetId: 'net-1', ...keys } } });
  assert.match(refused.body.errors?.[0]?.message ?? '', /aws\.subnetId: must be a subnet id/);
  assert.not.match(JSON.stringify(refused.body), keys.secretAccessKey);
  assert.is((await ok(f.g, '{ vmService { provider } }')).vmService, null, 'the refusal changed nothing');
  const refusal = await until('the refusal to be audited', async () =>
    (await loggedEvents(f.g)).find((e) => e.type === 'vm_service.configure' && !e.metadata.success),
  );
  assert.match(JSON.stringify(refusal.data), /subnetId/);

  const set = (await f.configure({ provider: 'AWS', aws: { ...aws, ...keys } })).configureVmService;
  assert.equal(set, {
    provider: 'AWS',
    credentials: 'access key xxxxCANR',
    aws: { ...aws, windowsAmi: null },
    pools: [
      { vmType: 'LINUX', prescaled: 0, idle: 0, busy: 0 },
      { vmType: 'WINDOWS', prescaled: 0, idle: 0, busy: 0 },
      { vmType: 'REMOTE_DOCKER', prescaled: 0, idle: 0, busy: 0 },
    ],
  });
  const user = await f.g.createUser('vm-nosy');
  const asUser = await f.g.gql('{ vmService { provider } }', {}, { authorization: `Bearer ${user.token}` });
  assert.is(asUser.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');

  const audit = await f.g.app.inject({ url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${f.g.adminToken}` } });
  assert.match(audit.body, 'vm_service.configure');
  assert.match(audit.body, 'xxxxCANR');
  assert.not.match(audit.body, keys.secretAccessKey);
  assert.not.match(JSON.stringify(await loggedEvents(f.g)), keys.secretAccessKey);
});

test('a machine job goes from Gyre to an EC2 VM whose one-shot agent runs it; the VM is then terminated', async () => {
  const { workflowId, jobId } = await f.run('echo "ran on $CIRCLE_JOB"');
  const done = await finished(f.g, workflowId, 90_000);
  const ran = await job(f.g, jobId);
  assert.is(done.byName.build!.status, 'success', JSON.stringify(ran));
  assert.match(ran.agent ?? '', /^vm-[0-9a-f-]{36}$/, 'the agent is named after its instance');
  const instanceId = ran.agent!.slice('vm-'.length);

  const instance = await until('the instance to be terminated', async () => {
    const i = f.ec2.instances().find((x) => x.tags['gyre-instance'] === `gyre-${instanceId}`);
    return i?.state === 'terminated' ? i : undefined;
  });
  assert.is(instance.tags.ManagedBy, 'gyre-vm-service');
  assert.is(instance.volumeTags.ManagedBy, 'gyre-vm-service', 'its volumes carry the tag too');
  assert.is([instance.imageId, instance.instanceType, instance.subnetId].join(' '), `${aws.linuxAmi} m5.large ${aws.subnetId}`);
  assert.match(instance.userData, /agent --one-shot --name 'vm-/);
  assert.ok(instance.pid === null || processGone(instance.pid), 'its agent has exited');

  const events = await until('the instance to be recorded terminated', async () => {
    const e = await instanceEvents(f.g, instanceId);
    return e.at(-1)?.type === 'vm.instance.terminate' ? e : undefined;
  });
  assert.equal(
    events.map((e) => e.type),
    ['vm.instance.request', 'vm.instance.start', 'vm.instance.terminate'],
  );
  assert.is((events[1]!.data as { cloudId: string }).cloudId, instance.id, "the audit log names the cloud's instance id");
  const pipelineId = (await f.g.services.store.readStream(`job-${jobId}`))[0]!.metadata.$correlationId;
  assert.ok(pipelineId && events.every((e) => e.metadata.$correlationId === pipelineId), 'correlated to the pipeline of its job');
  // the instance's single-use token was in its user data only: not in the log, and it no longer works
  const token = /GYRE_TOKEN='([^']+)'/.exec(instance.userData)![1]!;
  assert.not.match(JSON.stringify(await loggedEvents(f.g)), token);
  const register = await f.g.app.inject({ method: 'POST', url: '/api/agent/register', headers: { authorization: `Bearer ${token}` }, payload: {} });
  assert.is(register.statusCode, 401);
  assert.not.match(f.logs.join(''), keys.secretAccessKey);
});

/** Whether something listens on 127.0.0.1:port. */
const listening = (port: number) =>
  new Promise<boolean>((r) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });

test("setup_remote_docker: a prescaled REMOTE_DOCKER VM's Docker engine on 2376, which only the job's certificate opens, is given to the job; its later steps reach it; it ends with the job", async () => {
  await f.configure({ provider: 'AWS', aws, pools: [{ vmType: 'REMOTE_DOCKER', prescaled: 1 }] });
  await until(
    'an idle engine to answer',
    async () => {
      const pools = (await ok(f.g, '{ vmService { pools { vmType idle } } }')).vmService.pools as Array<{ vmType: string; idle: number }>;
      const ready = (await f.instances()).some((i) => i.status === 'READY');
      return ready && pools.find((p) => p.vmType === 'REMOTE_DOCKER')!.idle === 1 ? true : undefined;
    },
    60_000,
  );
  const volume = `gyre-remote-${randomBytes(4).toString('hex')}`;
  f.repo.commit(`version: 2.1
jobs:
  build:
    machine:
      image: ubuntu-2204:current
    steps:
      - setup_remote_docker:
          docker_layer_caching: true
      - run: |
          echo "host=$DOCKER_HOST verify=$DOCKER_TLS_VERIFY"
          ls "$DOCKER_CERT_PATH"
          docker version --format 'engine {{.Server.Version}}'
          docker volume create ${volume}
          docker volume ls --format 'volume {{.Name}}'
      - run: curl -s --max-time 5 https://127.0.0.1:2376/_ping --cacert "$DOCKER_CERT_PATH/ca.pem" || echo "refused without a client certificate"
workflows:
  main: {jobs: [build]}
`);
  const { workflowId, jobId } = await triggerOneJob(f.g, slug);
  const done = await finished(f.g, workflowId, 120_000);
  const steps = (await ok(f.g, 'query($id: ID!) { job(id: $id) { steps { name status output } } }', { id: jobId })).job.steps as Array<{
    name: string;
    status: string;
    output: string;
  }>;
  assert.is(done.byName.build!.status, 'success', JSON.stringify(steps));
  const [, setup, docker, bare] = steps;
  assert.is(setup!.name, 'Setup a remote Docker engine');
  assert.match(setup!.output, /starts with no image layers/);
  assert.match(setup!.output, /Remote Docker engine ready at tcp:\/\/127\.0\.0\.1:2376/);
  assert.match(docker!.output, 'host=tcp://127.0.0.1:2376 verify=1');
  assert.match(docker!.output, /ca\.pem\ncert\.pem\nkey\.pem/);
  assert.match(docker!.output, /engine \d+\.\d+/);
  assert.match(docker!.output, `volume ${volume}`);
  assert.match(bare!.output, /refused without a client certificate/);
  // the job's volume is on the remote engine, not on this machine's
  assert.not.match(execFileSync('docker', ['volume', 'ls', '-q'], { env: { ...process.env, DOCKER_HOST: '' } }).toString(), volume);

  const engine = await vmInstanceOfTask(f.g.services.db, jobId, 0, 'remote docker');
  assert.ok(engine, 'the job had a second instance: its engine');
  assert.is.not(engine.instanceId, (await job(f.g, jobId)).agent?.slice('vm-'.length));
  const events = await until('the engine to be recorded terminated', async () => {
    const e = await instanceEvents(f.g, engine.instanceId);
    return e.at(-1)?.type === 'vm.instance.terminate' ? e : undefined;
  });
  assert.equal(
    events.map((e) => e.type),
    ['vm.instance.request', 'vm.instance.start', 'vm.instance.ready', 'vm.instance.assign', 'vm.instance.terminate'],
    'the prescaled engine, given to the job',
  );
  assert.equal((events[0]!.data as { vmType: string; task: unknown }).vmType, 'REMOTE_DOCKER');
  assert.is((events[2]!.data as { address: string }).address, '127.0.0.1');
  const launched = f.ec2.instances().find((x) => x.id === engine.cloudId)!;
  assert.match(launched.userData, /-H tcp:\/\/0\.0\.0\.0:2376/);
  assert.is(launched.tags.ManagedBy, 'gyre-vm-service');
  // the pool refilled (its engine may find the port still taken, and never answer): lowered to 0, it is drained
  await f.configure({ provider: 'AWS', aws, pools: [] });
  await until('the engines to be terminated', async () => ((await f.instances()).length === 0 ? true : undefined));
  await until('the engine to stop listening', async () => ((await listening(2376)) ? undefined : true));
  // neither the CA's key nor the client's is in the log or the job's output
  const logged = JSON.stringify(await loggedEvents(f.g));
  assert.not.match(logged, 'PRIVATE KEY');
  assert.not.match(JSON.stringify(steps), 'PRIVATE KEY');
  assert.not.match(f.logs.join(''), 'PRIVATE KEY');
});

test('a docker job gets its own engine: the TLS files in its container, DOCKER_HOST and the rest in its later steps', async () => {
  f.repo.commit(`version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps:
      - setup_remote_docker
      - run: echo "host=$DOCKER_HOST verify=$DOCKER_TLS_VERIFY path=$DOCKER_CERT_PATH" && ls "$DOCKER_CERT_PATH" && grep -c CERTIFICATE "$DOCKER_CERT_PATH/ca.pem"
workflows:
  main: {jobs: [build]}
`);
  const { workflowId, jobId } = await triggerOneJob(f.g, slug);
  const done = await finished(f.g, workflowId, 120_000);
  const steps = (await ok(f.g, 'query($id: ID!) { job(id: $id) { agent steps { name status output } } }', { id: jobId })).job as {
    agent: string;
    steps: Array<{ name: string; status: string; output: string }>;
  };
  assert.is(done.byName.build!.status, 'success', JSON.stringify(steps));
  assert.not.match(steps.agent, /^vm-/, "on Gyre's own agent, in a container");
  assert.match(steps.steps[2]!.output, /host=tcp:\/\/127\.0\.0\.1:2376 verify=1 path=\/[^\n]*\/\.gyre\/remote-docker\nca\.pem\ncert\.pem\nkey\.pem\n2\n/);
  const engine = await vmInstanceOfTask(f.g.services.db, jobId, 0, 'remote docker');
  assert.ok(engine?.forTask, 'an engine of its own');
  await until('the engine to be terminated', async () => ((await f.instances()).length === 0 ? true : undefined));
  await until('the engine to stop listening', async () => ((await listening(2376)) ? undefined : true));
});

test("an engine EC2 will not start ends the job infrastructure_fail once, with EC2's words", async () => {
  f.repo.commit(`version: 2.1
jobs:
  build:
    machine: true
    steps:
      - setup_remote_docker
      - run: echo never
workflows:
  main: {jobs: [build]}
`);
  // the job's own VM is launched (and held from booting) first: the next launch, refused, is its engine's
  f.ec2.holdBoot();
  const { workflowId, jobId } = await triggerOneJob(f.g, slug);
  try {
    await until("the job's VM to be started", async () => (await f.instances()).find((i) => i.jobId === jobId && i.cloudId));
    f.ec2.failNext('RunInstances', 'InvalidAMIID.NotFound', "The image id '[ami-0123456789abcdef0]' does not exist", 1, 400);
  } finally {
    f.ec2.resumeBoot();
  }
  const done = await finished(f.g, workflowId, 90_000);
  const ran = await job(f.g, jobId);
  assert.is(done.byName.build!.status, 'infrastructure_fail', JSON.stringify(ran));
  assert.match(ran.tasks[0]!.reason ?? '', /could not start a REMOTE_DOCKER VM on AWS: InvalidAMIID\.NotFound: .*The image id/, JSON.stringify(ran));
  const ends = (await f.g.services.store.readStream(`job-${jobId}`)).filter((e) => e.type === 'job.task.finish');
  assert.is(ends.length, 1, 'ended once');
});

test('throttling is retried with backoff until EC2 takes the launch', async () => {
  const before = runsOf(f.ec2);
  f.ec2.failNext('RunInstances', 'RequestLimitExceeded', 'Request limit exceeded.', 2, 503);
  const { workflowId } = await f.run('echo after throttling');
  const done = await finished(f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success');
  assert.ok(runsOf(f.ec2) - before >= 3, `launched after two refusals (${runsOf(f.ec2) - before} calls)`);
});

test('a restart while its VM boots: the next server follows the instance, the job runs once on it, and it is terminated', async () => {
  f.ec2.holdBoot();
  try {
    const { workflowId, jobId } = await f.run('echo after the restart');
    const started = await until('the instance to be started', async () => (await f.instances()).find((i) => i.jobId === jobId && i.cloudId));
    const why = (await ok(f.g, 'query($id: ID!) { job(id: $id) { queueReason } }', { id: jobId })).job.queueReason as string;
    assert.is(why, `its EC2 VM ${started.cloudId} is starting: waiting for its agent to register`);
    await f.restart();
    f.ec2.resumeBoot();
    const done = await finished(f.g, workflowId, 90_000);
    assert.is(done.byName.build!.status, 'success');
    assert.is((await job(f.g, jobId)).agent, `vm-${started.id}`, 'on the instance started before the restart');
    const claims = (await f.g.services.store.readStream(`job-${jobId}`)).filter((e) => e.type === 'job.task.claim');
    assert.is(claims.length, 1, 'claimed once');
    await until('the instance to be recorded terminated', async () =>
      (await instanceEvents(f.g, started.id)).at(-1)?.type === 'vm.instance.terminate' ? true : undefined,
    );
    const vms = await until('EC2 to have ended it', async () => {
      const mine = f.ec2.instances().filter((i) => i.tags['gyre-instance'] === `gyre-${started.id}`);
      return mine.every((i) => i.state === 'terminated') ? mine : undefined;
    });
    assert.is(vms.length, 1, 'one VM for the task');
  } finally {
    f.ec2.resumeBoot();
  }
});

test('bad credentials end the job infrastructure_fail at once with the cloud’s message, and start nothing', async () => {
  await f.configure({ provider: 'AWS', aws: { ...aws, accessKeyId: 'AKIAGYRETEST0000WRNG', secretAccessKey: 'not-the-key' } });
  const known = new Set(f.ec2.instances().map((i) => i.id));
  const { workflowId, jobId } = await f.run('echo never');
  const done = await finished(f.g, workflowId, 60_000);
  assert.is(done.byName.build!.status, 'infrastructure_fail');
  const reason = (await job(f.g, jobId)).tasks[0]!.reason ?? '';
  assert.match(reason, /could not start a LINUX VM on AWS: AuthFailure/);
  assert.not.match(reason, 'not-the-key');
  assert.equal(
    f.ec2.instances().filter((i) => !known.has(i.id)),
    [],
    'EC2 started nothing for the refused key',
  );
  const [i] = (await f.instances()).filter((x) => x.jobId === jobId);
  assert.is(i, undefined, 'a failed instance is not live');
  await f.configure({ provider: 'AWS', aws: { ...aws, ...keys } });
});

test('prescaled pools: filled, a job takes an idle VM of its size (no launch), the pool refills, a new image replaces the idle ones, and lowering it drains them', async () => {
  const idle = async (n: number) =>
    until(`${n} idle LINUX VMs`, async () => {
      const pools = (await ok(f.g, '{ vmService { pools { vmType idle busy } } }')).vmService.pools as Array<{ vmType: string; idle: number }>;
      const live = f.ec2.instances().filter((i) => i.state === 'running' && i.tags['gyre-instance']);
      return pools.find((p) => p.vmType === 'LINUX')!.idle === n ? live : undefined;
    });
  await f.configure({ provider: 'AWS', aws, pools: [{ vmType: 'LINUX', prescaled: 2 }] });
  await idle(2);
  // their agents register and wait for a task
  const agents = async () => ((await ok(f.g, '{ agents { name } }')).agents as Array<{ name: string }>).filter((a) => a.name.startsWith('vm-'));
  await until(
    'both idle VMs to be ready',
    async () => {
      const live = await f.instances();
      const names = new Set((await agents()).map((a) => a.name));
      return live.length === 2 && live.every((i) => names.has(`vm-${i.id}`)) ? true : undefined;
    },
    60_000,
  );
  const metrics = (await f.g.app.inject({ url: '/metrics' })).body;
  assert.match(metrics, 'gyre_vm_pool_prescaled{vm_type="LINUX"} 2');
  assert.match(metrics, 'gyre_vm_instances{vm_type="LINUX",state="idle"} 2');
  assert.match(metrics, 'gyre_vm_instances{vm_type="WINDOWS",state="busy"} 0');
  const known = new Set(f.ec2.instances().map((i) => i.id));
  const { workflowId, jobId } = await f.run('echo on a prescaled VM');
  const done = await finished(f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success', JSON.stringify(await job(f.g, jobId)));
  const given = (await instanceEvents(f.g, (await job(f.g, jobId)).agent!.slice(3))).map((e) => e.type);
  assert.equal(given.slice(0, 3), ['vm.instance.request', 'vm.instance.start', 'vm.instance.assign'], 'a prescaled instance, given the task');
  await idle(2);
  assert.is(f.ec2.instances().filter((i) => !known.has(i.id)).length, 1, 'one instance started: the refill, not one for the job');

  // a large job does not run on a medium VM: it gets one of its own
  const large = await f.run('echo large', 'large');
  assert.is((await finished(f.g, large.workflowId, 90_000)).byName.build!.status, 'success');
  const [requested] = await instanceEvents(f.g, (await job(f.g, large.jobId)).agent!.slice(3));
  assert.equal(
    [(requested!.data as { machineType: string }).machineType, (requested!.data as { task: { jobId: string } | null }).task?.jobId],
    ['m5.xlarge', large.jobId],
  );
  // another AMI: the idle VMs of the old one are drained, and the pool refilled from the new one
  const ami = 'ami-0fedcba987654321';
  await f.configure({ provider: 'AWS', aws: { ...aws, linuxAmi: ami }, pools: [{ vmType: 'LINUX', prescaled: 1 }] });
  await until('the pool to hold one VM, of the new AMI', async () => {
    const up = f.ec2.instances().filter((i) => i.state === 'pending' || i.state === 'running');
    return up.length === 1 && up[0]!.imageId === ami ? true : undefined;
  });

  await f.configure({ provider: 'AWS', aws, pools: [] });
  await until('the idle VMs to be terminated', async () => ((await f.instances()).length === 0 ? true : undefined));
  await until('EC2 to have ended them', async () => (f.ec2.instances().every((i) => i.state === 'terminated') ? true : undefined));
});

test.run();

// ---------------------------------------------------------------------------------------------------

const late = suite('vm service: VMs that never become ready, and clouds out of capacity');
const l = fixture({ GYRE_VM_READY_TIMEOUT_MS: '6000' });
late.before(async () => {
  await l.start();
  await l.configure({ provider: 'AWS', aws: { ...aws, ...keys } });
});
late.after(() => l.stop());

late('an instance that never becomes ready is terminated and its job ends infrastructure_fail, once', async () => {
  l.ec2.holdBoot();
  try {
    const { workflowId, jobId } = await l.run('echo never');
    const done = await finished(l.g, workflowId, 60_000);
    assert.is(done.byName.build!.status, 'infrastructure_fail');
    assert.match((await job(l.g, jobId)).tasks[0]!.reason ?? '', /did not become ready within 6 s/);
    const terminated = await until('the instance to be terminated', async () => {
      const i = l.ec2.instances().find((x) => x.state === 'terminated');
      return i;
    });
    const finishes = (await l.g.services.store.readStream(`job-${jobId}`)).filter((e) => e.type === 'job.task.finish');
    assert.is(finishes.length, 1, 'ended once');
    assert.ok(l.ec2.calls.some((c) => c.action === 'TerminateInstances' && JSON.stringify(c.params).includes(terminated.id)));
  } finally {
    l.ec2.resumeBoot();
  }
});

late('no capacity: retried until the deadline, then the job ends infrastructure_fail with EC2’s message', async () => {
  const before = runsOf(l.ec2);
  // more refusals than the deadline leaves time to ask: this is the suite's last test
  l.ec2.failNext(
    'RunInstances',
    'InsufficientInstanceCapacity',
    'We currently do not have sufficient m5.large capacity in the Availability Zone you requested.',
    10,
  );
  const { workflowId, jobId } = await l.run('echo never');
  const done = await finished(l.g, workflowId, 60_000);
  assert.is(done.byName.build!.status, 'infrastructure_fail');
  assert.match((await job(l.g, jobId)).tasks[0]!.reason ?? '', /InsufficientInstanceCapacity: .*do not have sufficient m5\.large capacity/);
  assert.ok(runsOf(l.ec2) - before >= 2, 'asked again before giving up');
});

late.run();

// ---------------------------------------------------------------------------------------------------

const gcp = suite('vm service: machine jobs on Compute Engine VMs (@google-cloud/compute against a stand-in on 127.0.0.1)');
const project = 'gyre-ci-vms';
const zone = 'europe-west4-b';
const clientEmail = 'gyre-vm@gyre-ci-vms.iam.gserviceaccount.com';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
/** A service account key file as `gcloud iam service-accounts keys create` writes it. */
const keyFile = JSON.stringify({ type: 'service_account', project_id: project, private_key_id: 'k1', private_key: privatePem, client_email: clientEmail });
const gcpSettings = { projectId: project, zone, network: 'default', subnetwork: 'ci', linuxImage: 'projects/gyre-ci-vms/global/images/family/gyre-agent' };
const c = { gce: null as unknown as GceStandIn, f: null as unknown as ReturnType<typeof fixture> };
gcp.before(async () => {
  c.gce = await startGceStandIn({
    projectId: project,
    zone,
    serviceAccount: { clientEmail, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
  });
  c.f = fixture({ GYRE_GCE_ENDPOINT: c.gce.url, GYRE_VM_READY_TIMEOUT_MS: '90000' });
  await c.f.start();
});
gcp.after(async () => {
  await c.f.stop();
  await c.gce.close();
});

gcp('a machine job runs on a GCE VM started with the service account, labelled managed-by, and deleted when it ends', async () => {
  const set = (await c.f.configure({ provider: 'GCP', gcp: { ...gcpSettings, serviceAccountJson: keyFile } })).configureVmService;
  assert.is(set.credentials, `service account ${clientEmail}`);
  const { workflowId, jobId } = await c.f.run('echo "ran on GCE"');
  const done = await finished(c.f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success', JSON.stringify(await job(c.f.g, jobId)));
  const instanceId = (await job(c.f.g, jobId)).agent!.slice('vm-'.length);
  const name = `gyre-${instanceId}`;
  await until('the VM to be deleted', async () => (c.gce.instances().some((i) => i.name === name) ? undefined : true));
  const inserted = c.gce.calls.find((x) => x.kind === 'insert');
  assert.ok(inserted, 'instances.insert was called');
  assert.ok(
    c.gce.calls.some((x) => x.kind === 'delete' && x.path.endsWith(`/instances/${name}`)),
    'instances.delete was called for it',
  );
  const events = await until('the instance to be recorded terminated', async () => {
    const e = await instanceEvents(c.f.g, instanceId);
    return e.at(-1)?.type === 'vm.instance.terminate' ? e : undefined;
  });
  assert.equal(
    events.map((e) => [e.type, (e.data as { cloudId?: string | null }).cloudId ?? null]),
    [
      ['vm.instance.request', null],
      ['vm.instance.start', name],
      ['vm.instance.terminate', name],
    ],
  );
  // the key is sealed in the log and shown nowhere
  const key = privatePem.split('\n')[1]!;
  assert.not.match(JSON.stringify(await loggedEvents(c.f.g)), key);
  assert.not.match(c.f.logs.join(''), key);
  const audit = await c.f.g.app.inject({ url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${c.f.g.adminToken}` } });
  assert.not.match(audit.body, key);
  assert.match(audit.body, clientEmail);
});

gcp('labels on the VM and its disk; GCE’s resource pool exhausted in the operation is retried', async () => {
  c.gce.failNext(
    'insert',
    {
      code: 503,
      reason: 'ZONE_RESOURCE_POOL_EXHAUSTED',
      message: 'The zone does not have enough resources available to fulfill the request.',
      inOperation: true,
    },
    1,
  );
  const inserts = () => c.gce.calls.filter((x) => x.kind === 'insert').length;
  const before = inserts();
  const { workflowId } = await c.f.run('sleep 1; echo retried');
  const seen = await until('the VM to boot', async () => c.gce.instances().find((i) => i.status === 'RUNNING'));
  assert.is(seen.labels['managed-by'], 'gyre-vm-service');
  assert.is(seen.diskLabels['managed-by'], 'gyre-vm-service');
  assert.match(seen.metadata['startup-script'] ?? '', /agent --one-shot/);
  const done = await finished(c.f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success');
  assert.ok(inserts() - before >= 2, `inserted again after the operation failed (${inserts() - before} inserts)`);
});

gcp.run();

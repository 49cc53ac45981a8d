import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startEc2StandIn } from '../support/ec2-standin.ts';
import { gitRepo } from '../support/git-repo.ts';
import type { TestGyre } from '../support/gyre.ts';
import { finished, ok, trigger, until, workflow } from '../support/jobs.ts';
import { freePort } from '../support/ports.ts';
import { startGyre, type GyreProcess } from './gyre-process.ts';

/**
 * `gyre serve` (embedded database) killed with SIGKILL after EC2 launched a job's VM and before Gyre
 * heard of it: the server started again on the same data launches no second VM (the launch's
 * ClientToken is the instance's name), and the job runs once on the one VM.
 */
const root = resolve(import.meta.dirname, '../..');
const keys = { accessKeyId: 'AKIAGYREFAULT000KILL', secretAccessKey: 'vm-fault-secret' };
const aws = { region: 'us-east-1', subnetId: 'subnet-0123456789abcdef0', securityGroupId: 'sg-0123abcd', linuxAmi: 'ami-0123456789abcdef0' };

/** The helpers of test/support/jobs.ts over HTTP, against a Gyre process. */
const overHttp = (gyre: GyreProcess) =>
  ({
    async gql(query: string, variables: Record<string, unknown> = {}) {
      const r = await fetch(`${gyre.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${gyre.token}` },
        body: JSON.stringify({ query, variables }),
      });
      return { status: r.status, body: await r.json() };
    },
  }) as unknown as TestGyre;

const test = suite('faults: gyre serve killed with SIGKILL while a job’s VM is launched');

test('the next start launches no second VM, and the job runs once on the one VM', async () => {
  const ec2 = await startEc2StandIn({ credentials: keys });
  const dataDir = mkdtempSync(join(tmpdir(), 'gyre-vm-kill-'));
  const repo = gitRepo();
  const port = await freePort();
  const env = {
    AWS_ENDPOINT_URL_EC2: ec2.url,
    GYRE_VM_AGENT_COMMAND: `${process.execPath} ${join(root, 'bin', 'gyre.mjs')}`,
    GYRE_PUBLIC_URL: `http://127.0.0.1:${port}`,
  };
  let gyre: GyreProcess | undefined;
  try {
    gyre = await startGyre({ dataDir, port, env });
    let g = overHttp(gyre);
    repo.commit('version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo ran once\nworkflows:\n  main: {jobs: [build]}\n');
    await ok(g, `mutation { createProject(input: {slug: "gh/acme/vm-kill", gitUrl: "${repo.dir}"}) { id } }`);
    await ok(g, 'mutation($input: VmServiceInput!) { configureVmService(input: $input) { provider } }', {
      input: { provider: 'AWS', aws: { ...aws, ...keys } },
    });
    // the kill comes between EC2's launch and Gyre's hearing of it: nothing but the launch's name tells the next server it happened
    ec2.holdAnswers('RunInstances');
    const workflowId = (await trigger(g, 'gh/acme/vm-kill')).workflows[0]!.id;
    await until('EC2 to launch the VM', async () => (ec2.heldAnswers('RunInstances') > 0 ? true : undefined), 60_000);
    assert.is(ec2.instances().length, 1);
    gyre.kill('SIGKILL');
    assert.is(await gyre.exited, 'SIGKILL');
    ec2.releaseAnswers('RunInstances');

    gyre = await startGyre({ dataDir, port, env });
    g = overHttp(gyre);
    const done = await finished(g, workflowId, 120_000);
    assert.is(done.byName.build!.status, 'success');
    const jobId = (await workflow(g, workflowId)).jobs[0]!.id;
    const vms = ec2.instances();
    assert.is(vms.length, 1, `one VM for the task: ${JSON.stringify(vms.map((v) => [v.id, v.clientToken]))}`);
    const ran = (await ok(g, 'query($id: ID!) { job(id: $id) { agent } }', { id: jobId })).job as { agent: string };
    assert.is(`gyre-${ran.agent.slice('vm-'.length)}`, vms[0]!.tags['gyre-instance'], 'on that VM');
    const claims = (await ok(g, '{ auditLog(filter: {actions: ["job.task.claim"]}, first: 10) { edges { node { action } } } }')).auditLog.edges;
    assert.is(claims.length, 1, 'claimed once');
    await until('the VM to be terminated', async () => (ec2.instances().every((v) => v.state === 'terminated') ? true : undefined), 60_000);
  } finally {
    if (gyre?.running()) await gyre.stop();
    await ec2.close();
    repo.remove();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();

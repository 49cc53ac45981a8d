import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createDockerExecutor } from '../../adapters/docker/executor.ts';
import { createEcr } from '../../adapters/ecr/client.ts';
import { EcrAuthError } from '../../adapters/ecr/port.ts';
import { runCollecting } from '../../adapters/executor/contract.ts';
import { ImagePullError } from '../../adapters/executor/port.ts';
import type { Assignment } from '../../domain/agents/protocol.ts';
import { GyreError } from '../../domain/errors.ts';
import { jobSpecOf } from '../../domain/jobs/job-spec.ts';
import { dockerForTests } from '../../test/support/docker.ts';
import { startEcrStandIn, startEmptyRegistry } from '../../test/support/ecr.ts';
import { ensureTestImage } from '../../test/support/images.ts';
import { provisionWith } from './provision.ts';

const docker = await dockerForTests();
const keyId = 'AKIAGYREPROVISION001';
const secret = 'provision-secret-key/do-not-print';
const ecrPassword = 'ecr-token-for-the-pull';
const standIn = await startEcrStandIn({ [keyId]: ecrPassword });
// the daemon would look *.amazonaws.com up on the network: the pulled image is on a loopback registry
// that has nothing, and the ECR client is told the region that host does not name
const registry = await startEmptyRegistry();
const present = '123456789012.dkr.ecr.us-east-1.amazonaws.com/gyre-test/app:present';
await ensureTestImage(docker, [present]);

const agentId = `test-agent-${randomUUID()}`;
const executor = createDockerExecutor(docker, { agentId });
const provision = provisionWith({ docker: executor, host: null }, { ecr: createEcr({ endpoint: standIn.endpoint, region: 'us-east-1' }) });
const containersOf = (taskId: string) => docker.listContainers({ all: true, filters: { label: [`gyre.task=${taskId}`] } });

const assignment = (docker: ReadonlyArray<Record<string, unknown>>, environment: Record<string, string>): Assignment => ({
  jobId: randomUUID(),
  taskIndex: 0,
  spec: jobSpecOf({
    job: { docker, steps: [{ run: 'true' }] },
    ids: {
      jobId: 'j',
      jobNumber: 1,
      name: 'build',
      workflowId: 'w',
      workflowName: 'main',
      pipelineId: 'p',
      pipelineNumber: 1,
      projectSlug: 'gh/acme/app',
      runsFor: 'dev',
      contexts: [],
      vcs: { repositoryUrl: '/r', revision: 'abc', branch: 'main', tag: null },
    },
    resourceClass: { kind: 'docker', name: 'small', cpus: 1, memoryMb: 512 },
    timeoutMs: 60_000,
  }),
  environment,
  secrets: Object.values(environment),
  deadline: new Date(Date.now() + 60_000).toISOString(),
});
// biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${VAR} syntax, expanded by Gyre
const keys = { aws_access_key_id: '$ECR_KEY_ID', aws_secret_access_key: '${ECR_SECRET}' };
const env = { ECR_KEY_ID: keyId, ECR_SECRET: secret };

const test = suite('workers/agent: provisioning an image with aws_auth, on a real Docker engine');
test.before.each(() => {
  standIn.calls.length = 0;
  registry.authorizations.length = 0;
});
test.after(async () => {
  await executor.removeLeftovers();
  await standIn.close();
  await registry.close();
});

test("a missing image: one GetAuthorizationToken with the job's key id, then a pull with AWS and the token that fails as an ImagePullError", async () => {
  const image = `${registry.host}/gyre-test/ecr-app:1`;
  const a = assignment([{ image, aws_auth: keys }], env);
  const progress: string[] = [];
  let error: unknown = null;
  await provision(a, (l) => progress.push(l)).then(
    (e) => e.close(),
    (e) => (error = e),
  );
  assert.instance(error, ImagePullError);
  const message = (error as Error).message;
  assert.ok(message.includes(image), message);
  assert.equal(
    standIn.calls.map((c) => [c.accessKeyId, c.region]),
    [[keyId, 'us-east-1']],
  );
  // the pull came after the token, with it
  const basic = `Basic ${Buffer.from(`AWS:${ecrPassword}`).toString('base64')}`;
  assert.ok(registry.authorizations.length > 0 && registry.authorizations.every((h) => h === basic), registry.authorizations.join('\n'));
  assert.equal(progress.slice(0, 2), [`Pulling ${image}`, `Getting credentials for ${image} from Amazon ECR`]);
  for (const text of [message, ...progress]) {
    assert.not.ok(text.includes(secret), text);
    assert.not.ok(text.includes(ecrPassword), text);
  }
  assert.is((await containersOf(`${a.jobId}.0`)).length, 0);
});

test('an image the engine has costs no call to ECR', async () => {
  const environment = await provision(assignment([{ image: present, aws_auth: keys }], env), () => undefined);
  try {
    assert.is((await runCollecting(environment, { command: 'echo up' })).output, 'up\n');
  } finally {
    await environment.close();
  }
  assert.is(standIn.calls.length, 0);
});

test('keys ECR refuses fail the spin-up with an EcrAuthError, before any pull, never showing the secret key', async () => {
  const image = `${registry.host}/gyre-test/ecr-app:1`;
  const error = await provision(assignment([{ image, aws_auth: keys }], { ...env, ECR_KEY_ID: 'AKIAWRONGKEY00000000' }), () => undefined).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(error, EcrAuthError);
  assert.not.ok((error as Error).message.includes(secret), (error as Error).message);
  assert.equal(
    standIn.calls.map((c) => c.accessKeyId),
    ['AKIAWRONGKEY00000000'],
  );
  assert.equal(registry.authorizations, []);
});

test('oidc_role_arn fails the job at spin-up, saying Gyre does not support it, with no call and no container', async () => {
  const a = assignment([{ image: present }, { image: present, name: 'db', aws_auth: { oidc_role_arn: 'arn:aws:iam::123456789012:role/ci' } }], env);
  const error = await provision(a, () => undefined).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(error, GyreError);
  assert.is((error as GyreError).code, 'AWS_OIDC_UNSUPPORTED');
  assert.ok((error as Error).message.includes('oidc_role_arn') && (error as Error).message.includes('does not support'), (error as Error).message);
  assert.is(standIn.calls.length, 0);
  assert.is((await containersOf(`${a.jobId}.0`)).length, 0);
});

test.run();

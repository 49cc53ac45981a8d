import { createRequire } from 'node:module';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';
import { rejects } from '../../test/support/rejects.ts';

/**
 * An existing CircleCI API v2 client from npm (circle-client), unchanged but for its base URL,
 * pointed at Gyre over a real port. It sends project slugs URL-encoded as one segment.
 */
type Client = Record<string, (...args: any[]) => Promise<any>>;
const CircleCI = (createRequire(import.meta.url)('circle-client') as { default: { new (token: string, slug?: string): Client; baseUrl: string } }).default;

const test = suite('api: the circle-client npm package against Gyre');
let g: TestGyre;
let client: Client;

test.before(async () => {
  g = await startTestGyre();
  CircleCI.baseUrl = `${await g.app.listen({ port: 0, host: '127.0.0.1' })}/api/v2`;
  const r = await g.gql('mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "https://github.com/acme/app.git"}) { id } }');
  assert.is(r.body.errors, undefined);
  client = new CircleCI(g.adminToken, 'gh/acme/app');
});
test.after(async () => g.stop());

test('project and its environment variables', async () => {
  const project = await client.getProject!();
  assert.is(project.slug, 'gh/acme/app');
  assert.is(project.vcs_info.vcs_url, 'https://github.com/acme/app.git');
  assert.equal(
    { ...(await client.createEnvVar!('DEPLOY_TOKEN', 'secret-value-4321')), created_at: undefined },
    { name: 'DEPLOY_TOKEN', value: 'xxxx4321', created_at: undefined },
  );
  assert.equal(
    (await client.listEnvVars!()).items.map((v: any) => [v.name, v.value]),
    [['DEPLOY_TOKEN', 'xxxx4321']],
  );
  assert.is((await client.getEnvVar!('DEPLOY_TOKEN')).value, 'xxxx4321');
  await client.deleteEnvVar!('DEPLOY_TOKEN');
  const e = (await rejects(() => client.getEnvVar!('DEPLOY_TOKEN'))) as { status: number; message: string };
  assert.is(e.status, 404);
  assert.match(e.message, /no environment variable DEPLOY_TOKEN/);
});

test('contexts and their variables', async () => {
  const created = await client.createContext!('release', { slug: 'gh/acme', type: 'organization' });
  assert.equal(Object.keys(created).sort(), ['created_at', 'id', 'name']);
  assert.equal(
    (await client.listContexts!({ ownerSlug: 'gh/acme' })).items.map((c: any) => c.name),
    ['release'],
  );
  assert.is((await client.getContext!(created.id)).name, 'release');
  const stored = await client.createContextEnvVar!(created.id, 'NPM_TOKEN', 'npm-secret');
  assert.equal(Object.keys(stored).sort(), ['context_id', 'created_at', 'updated_at', 'variable']);
  assert.equal(
    (await client.listContextEnvVars!(created.id)).items.map((v: any) => v.variable),
    ['NPM_TOKEN'],
  );
  await client.deleteContextEnvVar!(created.id, 'NPM_TOKEN');
  assert.equal((await client.listContextEnvVars!(created.id)).items, []);
  await client.deleteContext!(created.id);
  assert.is(((await rejects(() => client.getContext!(created.id))) as { status: number }).status, 404);
});

test.run();

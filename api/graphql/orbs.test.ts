import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api: the orb registry and compileConfig over GraphQL');
let g: TestGyre;
const publish = (orb: string, version: string, source: string, headers?: Record<string, string>) =>
  g.gql(
    'mutation($o: String!, $v: String!, $s: String!) { publishOrb(namespace: "acme", orb: $o, version: $v, source: $s) { id version orb { id } } }',
    { o: orb, v: version, s: source },
    headers,
  );
const command = (text: string) => `version: 2.1\ncommands:\n  hi:\n    steps: [{run: echo ${text}}]\n`;
const code = (r: Awaited<ReturnType<TestGyre['gql']>>) => r.body.errors?.[0]?.extensions?.code;

test.before(async () => {
  g = await startTestGyre();
});
test.after(async () => g.stop());

test('publishing: semver releases only, never the same version twice, admins only, the source checked', async () => {
  const r = await publish('tools', '1.2.3', command('one'));
  assert.equal(r.body.data!.publishOrb, { id: 'acme/tools@1.2.3', version: '1.2.3', orb: { id: 'acme/tools' } });
  assert.is(code(await publish('tools', '1.2.3', command('changed'))), 'ORB_VERSION_EXISTS');
  assert.is(code(await publish('tools', 'v2', command('x'))), 'ORB_VERSION_INVALID');
  const bad = await publish('tools', '2.0.0', 'version: 2.1\nwidgets: {}\n');
  assert.is(code(bad), 'BAD_USER_INPUT');
  assert.match(bad.body.errors![0]!.message, /orb acme\/tools@2\.0\.0:2: widgets: unknown key widgets/);
  const user = await g.createUser('pat');
  assert.is((await publish('tools', '9.9.9', command('x'), { authorization: `Bearer ${user.token}` })).status, 403);
  const audit = await waitForAudit(g, (e) => e.action === 'orb.publish' && e.success);
  assert.equal(audit[0]!.payload, { namespace: 'acme', orb: 'tools', version: '1.2.3' });
});

test('references: exact, partial (@1, @1.2) and volatile mean the newest matching release', async () => {
  for (const v of ['1.2.4', '1.3.0', '2.0.0']) assert.is((await publish('tools', v, command(v))).body.errors, undefined);
  const version = async (ref: string) =>
    (await g.gql('query($r: String!) { orbVersion(orbVersionRef: $r) { version } }', { r: ref })).body.data!.orbVersion?.version ?? null;
  assert.equal(
    [
      await version('acme/tools@1.2.3'),
      await version('acme/tools@1.2'),
      await version('acme/tools@1'),
      await version('acme/tools@volatile'),
      await version('acme/tools'),
      await version('acme/tools@3'),
    ],
    ['1.2.3', '1.2.4', '1.3.0', '2.0.0', '2.0.0', null],
  );
});

test('compileConfig expands orbs (fifteen in one config), and names a missing one with its line', async () => {
  for (let i = 0; i < 15; i++) assert.is((await publish(`o${i}`, '1.0.0', command(`from-o${i}`))).body.errors, undefined);
  const orbs = Array.from({ length: 15 }, (_, i) => `  o${i}: acme/o${i}@1`).join('\n');
  const steps = Array.from({ length: 15 }, (_, i) => `o${i}/hi`).join(', ');
  const config = `version: 2.1\norbs:\n${orbs}\njobs:\n  b:\n    docker: [{image: x}]\n    steps: [${steps}]\nworkflows:\n  w:\n    jobs: [b]\n`;
  const r = (await g.gql('query($c: String!) { compileConfig(configYaml: $c) { valid outputYaml errors { message } } }', { c: config })).body.data!
    .compileConfig;
  assert.is(r.valid, true, JSON.stringify(r.errors));
  for (let i = 0; i < 15; i++) assert.match(r.outputYaml, new RegExp(`command: echo from-o${i}\\n`));
  const missing = (
    await g.gql('query($c: String!) { compileConfig(configYaml: $c) { valid errors { message file line key } } }', {
      c: 'version: 2.1\norbs:\n  x: acme/nothing@1.0.0\njobs:\n  b:\n    docker: [{image: x}]\n    steps: [x/hi]\nworkflows:\n  w:\n    jobs: [b]\n',
    })
  ).body.data!.compileConfig;
  assert.is(missing.valid, false);
  assert.equal({ ...missing.errors[0], message: undefined }, { message: undefined, file: '.circleci/config.yml', line: 3, key: 'orbs.x' });
  assert.match(missing.errors[0].message, /acme\/nothing@1\.0\.0 is not in Gyre's orb registry/);
});

test.run();

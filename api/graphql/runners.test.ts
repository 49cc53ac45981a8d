import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api/graphql/runners: resource classes and runner tokens');
let g: TestGyre;
test.before(async () => {
  g = await startTestGyre();
});
test.after(async () => g.stop());

const ok = async (query: string, variables?: Record<string, unknown>) => {
  const r = await g.gql(query, variables);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data!;
};

test('an admin creates a class and a token; the token is shown once and authenticates an agent of that class only', async () => {
  const rc = (
    await ok(
      'mutation { createRunnerResourceClass(input: {resourceClass: "acme/linux", description: "Linux"}) { id resourceClass namespace description createdAt } }',
    )
  ).createRunnerResourceClass;
  assert.equal(
    { ...rc, id: undefined, createdAt: undefined },
    { id: undefined, resourceClass: 'acme/linux', namespace: 'acme', description: 'Linux', createdAt: undefined },
  );
  const created = (
    await ok(
      'mutation { createRunnerToken(input: {resourceClass: "acme/linux", nickname: "box-1"}) { token runnerToken { id resourceClass nickname createdAt } } }',
    )
  ).createRunnerToken;
  assert.match(created.token, /^gyre_runner_/);
  assert.equal((await ok('{ runnerResourceClasses(namespace: "ACME") { resourceClass } }')).runnerResourceClasses, [{ resourceClass: 'acme/linux' }]);
  const listed = await g.gql('{ runnerTokens(resourceClass: "acme/linux") { id resourceClass nickname createdAt } }');
  assert.equal(listed.body.data!.runnerTokens, [created.runnerToken]);
  assert.not.ok(JSON.stringify(listed.body).includes(created.token));

  const asAgent = await g.gql('{ me { login } }', {}, { authorization: `Bearer ${created.token}` });
  assert.is(asAgent.status, 403);
  assert.match(asAgent.body.errors![0]!.message, /runner token \(of acme\/linux\)/);

  const refused = await g.gql('mutation { deleteRunnerResourceClass(resourceClass: "acme/linux") }');
  assert.is(refused.body.errors?.[0]?.extensions?.code, 'RESOURCE_CLASS_HAS_TOKENS');
  assert.match(refused.body.errors![0]!.message, /delete its tokens first/);
  assert.is((await ok(`mutation { deleteRunnerToken(id: "${created.runnerToken.id}") }`)).deleteRunnerToken, true);
  assert.is((await g.gql('{ me { login } }', {}, { authorization: `Bearer ${created.token}` })).status, 401, 'a deleted token is not valid');
  assert.is((await ok('mutation { deleteRunnerResourceClass(resourceClass: "acme/linux") }')).deleteRunnerResourceClass, true);
  assert.equal((await ok('{ runnerResourceClasses(namespace: "acme") { id } }')).runnerResourceClasses, []);
});

test('bad names are refused with what to write', async () => {
  const r = await g.gql('mutation { createRunnerResourceClass(input: {resourceClass: "linux"}) { id } }');
  assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.match(r.body.errors![0]!.message, /namespace\/name/);
  const missing = await g.gql('{ runnerTokens(resourceClass: "acme/none") { id } }');
  assert.is(missing.body.errors?.[0]?.extensions?.code, 'RESOURCE_CLASS_NOT_FOUND');
});

test('the built-in fleets: classes named exactly docker and machine take tokens for build machines', async () => {
  for (const name of ['docker', 'machine']) {
    const rc = (
      await ok(`mutation { createRunnerResourceClass(input: {resourceClass: "${name}", description: "our build machines"}) { resourceClass namespace } }`)
    ).createRunnerResourceClass;
    assert.equal(rc, { resourceClass: name, namespace: name });
    const t = (await ok(`mutation { createRunnerToken(input: {resourceClass: "${name}", nickname: "fleet"}) { token runnerToken { resourceClass } } }`))
      .createRunnerToken;
    assert.is(t.runnerToken.resourceClass, name);
  }
  for (const bad of ['Docker', 'machine:medium', 'dockers']) {
    const r = await g.gql(`mutation { createRunnerResourceClass(input: {resourceClass: "${bad}"}) { id } }`);
    assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', bad);
  }
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { systemActor } from '../../domain/events/envelope.ts';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api: projects, contexts and their encrypted variables over GraphQL');
let g: TestGyre;
let user: { id: string; token: string };
const asUser = () => ({ authorization: `Bearer ${user.token}` });

test.before(async () => {
  g = await startTestGyre();
  user = await g.createUser('casey', { orgs: ['acme', 'other'] });
});
test.after(async () => g.stop());

const code = (r: Awaited<ReturnType<TestGyre['gql']>>) => r.body.errors?.[0]?.extensions?.code;
const ok = async (query: string, variables: Record<string, unknown> = {}, headers?: Record<string, string>) => {
  const r = await g.gql(query, variables, headers);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data!;
};

test('a repository is followed by slug and git URL; a local path only by an admin', async () => {
  const local = await g.gql('mutation { createProject(input: {slug: "github/Acme/App", gitUrl: "/srv/git/app.git"}) { id } }', {}, asUser());
  assert.is(code(local), 'LOCAL_REPOSITORY');
  assert.is(local.status, 403);
  const created = await ok(
    'mutation { createProject(input: {slug: "github/Acme/App", gitUrl: "/srv/git/app.git"}) { id slug name organization organizationId settings { gitUrl defaultBranch buildForkPullRequests webhookSecret } } }',
  );
  assert.equal(
    { ...created.createProject, id: undefined, organizationId: undefined },
    {
      id: undefined,
      slug: 'gh/Acme/App',
      name: 'App',
      organization: 'Acme',
      organizationId: undefined,
      settings: { gitUrl: '/srv/git/app.git', defaultBranch: 'main', buildForkPullRequests: false, webhookSecret: null },
    },
  );
  assert.is((await ok('{ project(slug: "gh/acme/app") { id } }')).project.id, created.createProject.id);
  assert.equal(
    (await ok('{ projects { edges { node { slug } } } }')).projects.edges.map((e: any) => e.node.slug),
    ['gh/Acme/App'],
  );
  const audit = await waitForAudit(g, (e) => e.action === 'project.create' && e.success);
  assert.is(audit[0]!.actor.name, 'admin');
  assert.is(audit[0]!.target.name, 'gh/Acme/App');
  // a member may follow one over the network
  await ok('mutation { createProject(input: {slug: "gh/acme/web", gitUrl: "https://github.com/acme/web.git"}) { id } }', {}, asUser());
  const again = await g.gql('mutation { createProject(input: {slug: "gh/acme/APP", gitUrl: "https://github.com/acme/app.git"}) { id } }');
  assert.is(code(again), 'PROJECT_EXISTS');
});

test('bad project input is a typed error, audited, and changes nothing', async () => {
  const cases: Array<[string, RegExp]> = [
    ['{slug: "acme/app", gitUrl: "/x"}', /gh\/<org>\/<repo>/],
    ['{slug: "gh/acme/app two", gitUrl: "/x"}', /repository name/],
    ['{slug: "gh/acme/other", gitUrl: "relative/path"}', /URL git can clone/],
    ['{slug: "gh/acme/other", gitUrl: "https://bot:hunter2-secret@github.com/acme/other.git"}', /must not contain a password/],
  ];
  for (const [input, message] of cases) {
    const r = await g.gql(`mutation { createProject(input: ${input}) { id } }`, {}, asUser());
    assert.is(code(r), 'BAD_USER_INPUT', input);
    assert.match(r.body.errors![0]!.message, message);
    assert.not.match(r.body.errors![0]!.message, /hunter2/);
  }
  const refused = await waitForAudit(g, (e) => e.action === 'project.create' && e.success === false && e.payload.code === 'BAD_USER_INPUT', 4);
  assert.is(refused.length, 4);
  assert.not.match(JSON.stringify(refused), /hunter2/);
  assert.is((await ok('{ projects { edges { node { slug } } } }')).projects.edges.length, 2, 'only the two projects followed before');
});

test('project settings change field by field; the webhook secret is only ever shown masked', async () => {
  const r = await ok(
    'mutation($s: String!) { updateProjectSettings(slug: "gh/acme/app", input: {defaultBranch: "trunk", webhookSecret: $s}) { settings { defaultBranch gitUrl webhookSecret } } }',
    { s: 'whsec-0123456789-abcd' },
  );
  assert.equal(r.updateProjectSettings.settings, { defaultBranch: 'trunk', gitUrl: '/srv/git/app.git', webhookSecret: 'xxxxabcd' });
  const audit = await waitForAudit(g, (e) => e.action === 'project.settings.update' && e.success);
  assert.equal(audit[0]!.payload.changed, ['defaultBranch', 'webhookSecret']);
  assert.equal(audit[0]!.payload.settings, { defaultBranch: 'trunk' });
  assert.not.match(JSON.stringify(audit), /whsec|sealed|aes-256/);
  const short = await g.gql('mutation { updateProjectSettings(slug: "gh/acme/app", input: {webhookSecret: "short"}) { slug } }');
  assert.is(code(short), 'BAD_USER_INPUT');
  assert.match(short.body.errors![0]!.message, /at least 16 characters/);
  const removed = await ok(
    'mutation { updateProjectSettings(slug: "gh/acme/app", input: {webhookSecret: null}) { settings { webhookSecret defaultBranch } } }',
  );
  assert.equal(removed.updateProjectSettings.settings, { webhookSecret: null, defaultBranch: 'trunk' });
  assert.is(code(await g.gql('mutation { updateProjectSettings(slug: "gh/acme/none", input: {defaultBranch: "x"}) { slug } }')), 'NOT_FOUND');
});

test('project variables: names are shell names, values are masked, pages are connections', async () => {
  const v = await ok('mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "API_TOKEN", value: "tok-9876543210") { name value createdAt } }', {}, asUser());
  assert.equal({ ...v.storeProjectEnvVar, createdAt: undefined }, { name: 'API_TOKEN', value: 'xxxx3210', createdAt: undefined });
  await ok('mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "PIN", value: "12") { name } }');
  for (const bad of ['1ABC', 'A-B', 'A B', '']) {
    const r = await g.gql('mutation($n: String!) { storeProjectEnvVar(slug: "gh/acme/app", name: $n, value: "v") { name } }', { n: bad });
    assert.is(code(r), 'BAD_USER_INPUT', bad);
    assert.match(r.body.errors![0]!.message, /shell variable name|must be/);
  }
  const first = (await ok('{ project(slug: "gh/acme/app") { envVars(first: 1) { edges { node { name value } } pageInfo { hasNextPage endCursor } } } }'))
    .project.envVars;
  assert.equal(
    first.edges.map((e: any) => e.node),
    [{ name: 'API_TOKEN', value: 'xxxx3210' }],
  );
  assert.ok(first.pageInfo.hasNextPage);
  const rest = (
    await ok('query($a: String) { project(slug: "gh/acme/app") { envVars(first: 5, after: $a) { edges { node { name value } } pageInfo { hasNextPage } } } }', {
      a: first.pageInfo.endCursor,
    })
  ).project.envVars;
  assert.equal(
    rest.edges.map((e: any) => e.node),
    [{ name: 'PIN', value: 'xxxx' }],
  );
  assert.is(rest.pageInfo.hasNextPage, false);
  assert.ok((await ok('mutation { deleteProjectEnvVar(slug: "gh/acme/app", name: "PIN") }')).deleteProjectEnvVar);
  assert.is(code(await g.gql('mutation { deleteProjectEnvVar(slug: "gh/acme/app", name: "PIN") }')), 'ENV_VAR_NOT_FOUND');
  const audit = await waitForAudit(g, (e) => e.action.startsWith('project.env_var.') && e.success, 3);
  assert.equal(
    audit.map((e) => [e.action, e.payload.name]),
    [
      ['project.env_var.create', 'API_TOKEN'],
      ['project.env_var.create', 'PIN'],
      ['project.env_var.delete', 'PIN'],
    ],
  );
  assert.not.match(JSON.stringify(audit), /tok-9876543210|secret|sealed/);
});

test('contexts: unique names per organization, masked variables, restrictions only by admins', async () => {
  const c = (
    await ok(
      'mutation { createContext(input: {owner: "gh/acme", name: "deploy"}) { id name owner { slug type } envVars { edges { node { name } } } restrictions { id } } }',
      {},
      asUser(),
    )
  ).createContext;
  assert.equal(
    { ...c, id: undefined },
    { id: undefined, name: 'deploy', owner: { slug: 'gh/acme', type: 'organization' }, envVars: { edges: [] }, restrictions: [] },
  );
  assert.is(code(await g.gql('mutation { createContext(input: {owner: "gh/ACME", name: "Deploy"}) { id } }')), 'CONTEXT_EXISTS');
  // the same name in another organization is another context
  await ok('mutation { createContext(input: {owner: "gh/other", name: "deploy"}) { id } }');
  assert.equal(
    (await ok('{ contexts(owner: "gh/acme") { edges { node { id name } } } }')).contexts.edges.map((e: any) => e.node),
    [{ id: c.id, name: 'deploy' }],
  );
  const v = (await ok(`mutation { storeContextEnvVar(contextId: "${c.id}", name: "KEY", value: "context-value-wxyz") { name value } }`, {}, asUser()))
    .storeContextEnvVar;
  assert.equal(v, { name: 'KEY', value: 'xxxxwxyz' });
  const forbidden = await g.gql(`mutation { addContextRestriction(contextId: "${c.id}", group: "release") { id } }`, {}, asUser());
  assert.is(forbidden.status, 403);
  const restricted = (await ok(`mutation { addContextRestriction(contextId: "${c.id}", group: "release") { restrictions { type value } } }`))
    .addContextRestriction;
  assert.equal(restricted.restrictions, [{ type: 'group', value: 'release' }]);
  // casey is in no team: a restricted context's values and life belong to its groups and admins
  const refused = await g.gql(`mutation { storeContextEnvVar(contextId: "${c.id}", name: "KEY", value: "x") { name } }`, {}, asUser());
  assert.is(code(refused), 'CONTEXT_RESTRICTED');
  assert.is(code(await g.gql(`mutation { deleteContext(id: "${c.id}") }`, {}, asUser())), 'CONTEXT_RESTRICTED');
  await ok(`mutation { storeContextEnvVar(contextId: "${c.id}", name: "KEY", value: "admin-set-value") { name } }`);
  assert.is(code(await g.gql('{ context(id: "not-a-uuid") { id } }')), 'BAD_USER_INPUT');
  assert.is((await ok('{ context(id: "00000000-0000-4000-8000-00000000abcd") { id } }')).context, null);
  const audit = await waitForAudit(g, (e) => e.action.startsWith('context.') && e.target.id === c.id, 4);
  assert.equal(
    audit.map((e) => e.action),
    ['context.create', 'context.env_var.store', 'context.restriction.create', 'context.env_var.store'],
  );
  const refusals = await waitForAudit(g, (e) => e.success === false && e.payload.code === 'CONTEXT_RESTRICTED', 2);
  assert.equal(
    refusals.map((e) => [e.action, e.actor.name]),
    [
      ['context.env_var.store', 'casey'],
      ['context.delete', 'casey'],
    ],
  );
});

test('only members of an organization, and admins, change its projects and contexts', async () => {
  const outsider = await g.createUser('olly', { orgs: ['elsewhere'] });
  const as = { authorization: `Bearer ${outsider.token}` };
  const attempts = [
    'mutation { createProject(input: {slug: "gh/acme/intrusion", gitUrl: "/x"}) { id } }',
    'mutation { updateProjectSettings(slug: "gh/acme/app", input: {gitUrl: "https://evil.example/app.git"}) { slug } }',
    'mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "API_TOKEN", value: "overwritten") { name } }',
    'mutation { createContext(input: {owner: "gh/acme", name: "sneaky"}) { id } }',
  ];
  for (const q of attempts) {
    const r = await g.gql(q, {}, as);
    assert.is(code(r), 'NOT_ORG_MEMBER', q);
    assert.match(r.body.errors![0]!.message, /not a member of the GitHub organization acme/);
  }
  const refused = await waitForAudit(g, (e) => e.success === false && e.payload.code === 'NOT_ORG_MEMBER' && e.actor.name === 'olly', 4);
  assert.equal(
    refused.map((e) => e.action),
    ['project.create', 'project.settings.update', 'project.env_var.create', 'context.create'],
  );
  assert.is((await ok('{ project(slug: "gh/acme/app") { settings { gitUrl } } }')).project.settings.gitUrl, '/srv/git/app.git');
  // reading stays open to every signed-in user
  assert.ok((await ok('{ project(slug: "gh/acme/app") { slug } }', {}, as)).project);
});

test('rotateMasterKey re-wraps every data key while values keep decrypting, and is audited', async () => {
  const secrets = g.services.jobSecrets;
  const request = {
    projectSlug: 'gh/acme/app',
    contexts: [],
    member: { login: 'casey', isAdmin: false, orgs: ['acme'], teams: [] },
    jobId: null,
    context: { actor: systemActor, request: null },
  };
  const before = await secrets.environmentFor(request);
  assert.is(before.API_TOKEN, 'tok-9876543210');
  const oldKey = g.services.vault.keyId();
  assert.is((await g.gql('mutation { rotateMasterKey { keyId } }', {}, asUser())).status, 403);
  const r = (await ok('mutation { rotateMasterKey { keyId previousKeyIds rewrapped } }')).rotateMasterKey;
  assert.is.not(r.keyId, oldKey);
  assert.equal(r.previousKeyIds, [oldKey]);
  assert.ok(r.rewrapped >= 2, `rewrapped ${r.rewrapped}`);
  assert.equal(await secrets.environmentFor(request), before);
  const audit = await waitForAudit(g, (e) => e.action === 'system.master_key.rotate' && e.success);
  assert.equal(audit[0]!.payload, { toKeyId: r.keyId, fromKeyIds: [oldKey], rewrapped: r.rewrapped });
});

test.run();

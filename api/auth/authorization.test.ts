import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fastify from 'fastify';
import { enforceRouteRules } from '../app.ts';
import { eventRegistry } from '../../domain/events/catalog.ts';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';
import { rootFields } from '../graphql/plugin.ts';
import { graphqlRules, routeRules, type Role } from './authorization.ts';

const test = suite('api/auth/authorization matrix');

const nowhere = '00000000-0000-4000-8000-00000000dead';
/** Ids of what the matrix's setup created, for samples that name them. */
const ids: Record<string, string> = {};
/**
 * One request per root field; a field added to the schema without a line here fails the walk. A
 * sample that can succeed only once is a function of the caller.
 */
const samples: Record<string, { query: string | ((caller: Role) => string); variables?: Record<string, unknown>; code?: string }> = {
  'Query.systemSettings': { query: '{ systemSettings { licenseSeats } }' },
  'Query.auditLog': { query: '{ auditLog(first: 1) { edges { cursor } } }' },
  'Mutation.updateSystemSettings': { query: 'mutation { updateSystemSettings(input: {}) { licenseSeats } }' },
  'Query.vmService': { query: '{ vmService { provider } }' },
  'Mutation.configureVmService': {
    query:
      'mutation { configureVmService(input: {provider: AWS, aws: {region: "us-east-1", subnetId: "subnet-0123456789abcdef0", securityGroupId: "sg-0123abcd", linuxAmi: "ami-0123456789abcdef0", accessKeyId: null, secretAccessKey: null}}) { provider } }',
  },
  'Subscription.events': { query: 'subscription { events { id } }' },
  'Query.me': { query: '{ me { login } }' },
  'Query.apiTokens': { query: '{ apiTokens { id } }' },
  'Mutation.createApiToken': { query: 'mutation { createApiToken(label: "matrix") { token } }' },
  // revoking a token the caller does not own is refused by the domain, not by the guard: check for that
  'Mutation.revokeApiToken': { query: 'mutation { revokeApiToken(id: "not-a-token") }' },
  'Query.users': { query: '{ users { edges { node { login } } } }' },
  'Query.user': { query: '{ user(login: "erin") { login } }' },
  'Mutation.approveUser': { query: 'mutation { approveUser(login: "matrix-approved") { state } }' },
  'Mutation.grantAdmin': { query: 'mutation { grantAdmin(login: "admin") { isAdmin } }' },
  'Mutation.revokeAdmin': { query: 'mutation { revokeAdmin(login: "matrix-approved") { isAdmin } }' },
  'Mutation.activateUser': { query: 'mutation { activateUser(login: "matrix-suspended") { state } }' },
  'Mutation.suspendUser': { query: 'mutation { suspendUser(login: "matrix-suspended") { state } }' },
  'Mutation.deleteUser': { query: 'mutation { deleteUser(login: "matrix-deleted") }' },
  'Query.projects': { query: '{ projects { edges { node { slug } } } }' },
  'Query.project': { query: '{ project(slug: "gh/matrix/app") { slug } }' },
  'Mutation.createProject': {
    query: (c) => `mutation { createProject(input: {slug: "gh/matrix/${c}", gitUrl: "https://github.com/matrix/${c}.git"}) { slug } }`,
  },
  'Mutation.updateProjectSettings': { query: 'mutation { updateProjectSettings(slug: "gh/matrix/app", input: {defaultBranch: "trunk"}) { slug } }' },
  'Mutation.storeProjectEnvVar': { query: 'mutation { storeProjectEnvVar(slug: "gh/matrix/app", name: "M", value: "v") { name } }' },
  'Mutation.deleteProjectEnvVar': { query: (c) => `mutation { deleteProjectEnvVar(slug: "gh/matrix/app", name: "DEL_${c}") }` },
  'Query.contexts': { query: '{ contexts(owner: "gh/matrix") { edges { node { id } } } }' },
  'Query.context': { query: () => `{ context(id: "${ids.context}") { id } }` },
  'Mutation.createContext': { query: (c) => `mutation { createContext(input: {owner: "gh/matrix", name: "new-${c}"}) { id } }` },
  'Mutation.deleteContext': { query: (c) => `mutation { deleteContext(id: "${ids[`del-${c}`]}") }` },
  'Mutation.storeContextEnvVar': { query: () => `mutation { storeContextEnvVar(contextId: "${ids.context}", name: "M", value: "v") { name } }` },
  'Mutation.deleteContextEnvVar': { query: (c) => `mutation { deleteContextEnvVar(contextId: "${ids.context}", name: "DEL_${c}") }` },
  'Mutation.addContextRestriction': { query: () => `mutation { addContextRestriction(contextId: "${ids.restricted}", group: "ops") { id } }` },
  'Mutation.removeContextRestriction': {
    query: () => `mutation { removeContextRestriction(contextId: "${ids.restricted}", restrictionId: "${ids.restriction}") { id } }`,
  },
  'Mutation.rotateMasterKey': { query: 'mutation { rotateMasterKey { keyId } }' },
  // a small read model, rebuilt beside the live one while the matrix goes on
  'Mutation.rebuildProjections': { query: 'mutation { rebuildProjections(names: ["system_settings"]) { id } }' },
  'Query.projectionRebuild': { query: `{ projectionRebuild(id: "${nowhere}") { id state } }` },
  'Mutation.publishOrb': {
    query: 'mutation { publishOrb(namespace: "matrix", orb: "tools", version: "1.0.0", source: "version: 2.1\\ncommands: {}\\n") { id } }',
  },
  'Query.orbVersion': { query: '{ orbVersion(orbVersionRef: "matrix/tools@1") { id } }' },
  'Query.compileConfig': { query: '{ compileConfig(configYaml: "version: 2.1") { valid } }' },
  'Query.pipelines': { query: '{ pipelines(projectSlug: "gh/matrix/app") { edges { cursor } } }' },
  'Query.pipeline': { query: `{ pipeline(id: "${nowhere}") { id } }` },
  'Query.pipelineByNumber': { query: '{ pipelineByNumber(projectSlug: "gh/matrix/app", number: 1) { id } }' },
  'Query.workflow': { query: `{ workflow(id: "${nowhere}") { id } }` },
  // past the guard, these reach the domain: a repository this machine cannot fetch, a workflow that does not exist
  'Mutation.triggerPipeline': { query: 'mutation { triggerPipeline(input: {projectSlug: "gh/matrix/app"}) { id } }', code: 'GIT_FAILED' },
  'Mutation.approveJob': { query: `mutation { approveJob(workflowId: "${nowhere}", approvalRequestId: "${nowhere}") { id } }`, code: 'WORKFLOW_NOT_FOUND' },
  'Mutation.cancelWorkflow': { query: `mutation { cancelWorkflow(workflowId: "${nowhere}") { id } }`, code: 'WORKFLOW_NOT_FOUND' },
  'Mutation.unfollowProject': { query: 'mutation { unfollowProject(slug: "gh/matrix/nowhere") { id } }', code: 'NOT_FOUND' },
  'Mutation.cancelJob': { query: `mutation { cancelJob(jobId: "${nowhere}") { id } }`, code: 'JOB_NOT_FOUND' },
  'Mutation.rerunWorkflow': { query: `mutation { rerunWorkflow(workflowId: "${nowhere}") { id } }`, code: 'WORKFLOW_NOT_FOUND' },
  'Mutation.reportJob': { query: `mutation { reportJob(workflowId: "${nowhere}", jobId: "x", status: "success") { id } }`, code: 'WORKFLOW_NOT_FOUND' },
  'Subscription.workflowJobs': { query: `subscription { workflowJobs(workflowId: "${nowhere}") { status } }` },
  'Query.job': { query: `{ job(id: "${nowhere}") { id queueReason executor { type } steps { output } } }` },
  'Subscription.jobOutput': { query: `subscription { jobOutput(jobId: "${nowhere}") { kind } }` },
  'Query.resourceClasses': { query: '{ resourceClasses { resourceClass queued } }' },
  'Query.agents': { query: '{ agents { name online running { jobId } } }' },
  'Query.queuedJobs': { query: '{ queuedJobs(first: 5) { id queueReason } }' },
  'Query.runnerResourceClasses': { query: '{ runnerResourceClasses(namespace: "matrix") { id } }' },
  'Query.runnerTokens': { query: '{ runnerTokens(resourceClass: "matrix/linux") { id } }' },
  'Mutation.createRunnerResourceClass': { query: (c) => `mutation { createRunnerResourceClass(input: {resourceClass: "matrix/new-${c}"}) { id } }` },
  'Mutation.deleteRunnerResourceClass': { query: (c) => `mutation { deleteRunnerResourceClass(resourceClass: "matrix/del-${c}") }` },
  'Mutation.createRunnerToken': { query: 'mutation { createRunnerToken(input: {resourceClass: "matrix/linux", nickname: "matrix"}) { token } }' },
  'Mutation.deleteRunnerToken': { query: (c) => `mutation { deleteRunnerToken(id: "${ids[`token-${c}`]}") }` },
};

/** A project and contexts for the samples to work on, made through the API as an admin would. */
const setUp = async (g: TestGyre) => {
  const ok = async (query: string) => {
    const r = await g.gql(query);
    assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
    return r.body.data!;
  };
  await ok('mutation { createProject(input: {slug: "gh/matrix/app", gitUrl: "https://github.com/matrix/app.git"}) { id } }');
  for (const c of ['user', 'admin']) await ok(`mutation { storeProjectEnvVar(slug: "gh/matrix/app", name: "DEL_${c}", value: "x") { name } }`);
  const create = async (name: string) =>
    (await ok(`mutation { createContext(input: {owner: "gh/matrix", name: "${name}"}) { id } }`)).createContext.id as string;
  for (const name of ['context', 'restricted', 'del-user', 'del-admin']) ids[name] = await create(name);
  for (const c of ['user', 'admin']) await ok(`mutation { storeContextEnvVar(contextId: "${ids.context}", name: "DEL_${c}", value: "x") { name } }`);
  ids.restriction = (
    await ok(`mutation { addContextRestriction(contextId: "${ids.restricted}", group: "release") { restrictions { id } } }`)
  ).addContextRestriction.restrictions[0].id;
  for (const name of ['linux', 'del-user', 'del-admin', 'del-agent'])
    await ok(`mutation { createRunnerResourceClass(input: {resourceClass: "matrix/${name}"}) { id } }`);
  const token = async (nickname: string) =>
    (await ok(`mutation { createRunnerToken(input: {resourceClass: "matrix/linux", nickname: "${nickname}"}) { token runnerToken { id } } }`))
      .createRunnerToken;
  for (const c of ['user', 'admin', 'agent']) ids[`token-${c}`] = (await token(c)).runnerToken.id;
  ids.agentToken = (await token('the agent')).token;
};

test('every root field of the schema has exactly one rule, and every guarded rule names a registered action', () => {
  const fields = rootFields();
  assert.equal(Object.keys(graphqlRules).sort(), [...fields].sort());
  for (const rule of [...Object.values(graphqlRules), ...Object.values(routeRules)]) {
    if (rule.role !== 'anonymous') assert.ok(eventRegistry.get(rule.action), `rule action ${rule.action} is not a registered event type`);
  }
});

let g: TestGyre;
test.before(async () => {
  g = await startTestGyre();
});
test.after(async () => g.stop());

test('the whole matrix: each field as anonymous, user, admin and a runner agent gets what its rule says', async () => {
  const user = await g.createUser('erin', { orgs: ['matrix'] });
  await g.createUser('matrix-suspended');
  await g.createUser('matrix-deleted');
  await setUp(g);
  const callers: Record<Role, Record<string, string>> = {
    anonymous: {},
    user: { authorization: `Bearer ${user.token}` },
    admin: { authorization: `Bearer ${g.adminToken}` },
    agent: { 'circle-token': ids.agentToken! },
  };
  /** An agent holds a runner token: it may do what rules with role agent allow, and what anyone may, and nothing else. */
  const allows = (caller: Role, role: Role) => (caller === 'agent' || role === 'agent' ? role === caller || role === 'anonymous' : rank[caller] >= rank[role]);
  const rank: Record<Role, number> = { anonymous: 0, user: 1, admin: 2, agent: -1 };
  for (const field of rootFields()) {
    const sample = samples[field];
    assert.ok(sample, `no sample request for ${field}: add one to this test`);
    const rule = graphqlRules[field]!;
    for (const caller of ['anonymous', 'user', 'admin', 'agent'] as const) {
      const allowed = allows(caller, rule.role);
      // a subscription over plain HTTP goes through the same guard; allowed callers are told to use WebSocket (subscription.test.ts covers that path)
      const r = await g.gql(typeof sample.query === 'function' ? sample.query(caller) : sample.query, sample.variables, callers[caller]);
      if (allowed && field.startsWith('Subscription.')) assert.match(JSON.stringify(r.body.errors), /served over WebSocket/, `${caller} on ${field}`);
      else if (allowed && field === 'Mutation.revokeApiToken') assert.is(r.body.errors?.[0]?.extensions?.code, 'TOKEN_NOT_FOUND', `${caller} on ${field}`);
      else if (allowed && sample.code) assert.is(r.body.errors?.[0]?.extensions?.code, sample.code, `${caller} on ${field}: ${JSON.stringify(r.body.errors)}`);
      else if (allowed) assert.is(r.body.errors, undefined, `${caller} on ${field}: ${JSON.stringify(r.body.errors)}`);
      else assert.is(r.status, caller === 'anonymous' ? 401 : 403, `${caller} on ${field}`);
    }
  }
  for (const [route, rule] of Object.entries(routeRules)) {
    const [method, url] = route.split(' ') as ['GET' | 'POST', string];
    if (url === '/graphql') continue;
    for (const caller of ['anonymous', 'user', 'admin', 'agent'] as const) {
      // from Gyre's own page, as a browser sends it: api/rest/sessions.test.ts covers requests from other sites
      const r = await g.app.inject({ method, url, headers: { ...callers[caller], origin: 'http://localhost:80' } });
      const allowed = allows(caller, rule.role);
      if (allowed) assert.ok(![401, 403].includes(r.statusCode), `${caller} on ${route}: ${r.statusCode}`);
      else assert.is(r.statusCode, caller === 'anonymous' ? 401 : 403, `${caller} on ${route}`);
    }
  }
  const agentRefusals = await waitForAudit(g, (e) => e.success === false && e.actor?.type === 'runner_token', 2);
  assert.ok(
    agentRefusals.some((e) => e.action === 'audit_log.export'),
    'a refused route is audited with the agent as actor',
  );
  assert.ok(
    agentRefusals.some((e) => e.action === 'project.read' && e.actor.name === 'matrix/linux'),
    'a refused field is audited with the agent as actor',
  );
});

test('only the agent protocol lets an agent in: no GraphQL field, and no route outside /api/agent/', () => {
  const agentRules = [...Object.entries(graphqlRules), ...Object.entries(routeRules)].filter(([, r]) => r.role === 'agent').map(([k]) => k);
  assert.ok(agentRules.length >= 7);
  assert.equal(
    agentRules.filter((k) => !k.startsWith('POST /api/agent/')),
    [],
  );
});

test('sign-in without GitHub configured says so, as 503', async () => {
  const r = await g.app.inject({ method: 'GET', url: '/auth/github' });
  assert.is(r.statusCode, 503);
  assert.match(r.json().message, /GYRE_GITHUB_CLIENT_ID/);
});

test('a route added without a rule stops the server from starting', async () => {
  const app = fastify({ logger: false });
  enforceRouteRules(app);
  app.get('/healthz', async () => 'ruled');
  try {
    app.get('/unruled', async () => 'x');
    assert.unreachable('a route without a rule was accepted');
  } catch (e) {
    assert.match(String(e), /no authorization rule/);
  }
});

test.run();

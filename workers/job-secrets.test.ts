import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadMasterKeys } from '../adapters/encryption/master-keys.ts';
import { contextOwner, type Opener } from '../adapters/encryption/port.ts';
import { DestroyedKeyError, createVault } from '../adapters/encryption/vault.ts';
import { contextDecider, contextStream } from '../domain/contexts/context.ts';
import { DomainError } from '../domain/errors.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { parseOrgSlug } from '../domain/projects/slugs.ts';
import { teamsOf } from '../projections/memberships.ts';
import { browser, startGitHubStandIn } from '../test/support/github-standin.ts';
import { startTestGyre, waitForAudit, type TestGyre } from '../test/support/gyre.ts';
import { rejects } from '../test/support/rejects.ts';
import type { JobSecrets } from './job-secrets.ts';

const test = suite('workers/job-secrets: the one place values are decrypted, for job dispatch');
const client = { id: 'gyre-client', secret: 'client-secret-for-tests' };
let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
let g: TestGyre;
let gyre: string;
let secrets: JobSecrets;
let opener: Opener;
const ids: Record<string, string> = {};

const ok = async (query: string, variables: Record<string, unknown> = {}) => {
  const r = await g.gql(query, variables);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data!;
};
/** A person signs in through the whole OAuth flow; GitHub tells Gyre their teams. */
const signIn = async (id: number, login: string, teams: string[]) => {
  github.state.signingIn = { id, login, name: login, orgs: ['acme'], teams };
  const end = await browser().visit(`${gyre}/auth/github`);
  assert.is(end.url, `${gyre}/`);
  return (await ok('query($l: String!) { user(login: $l) { id } }', { l: login })).user.id as string;
};
const member = async (login: string, isAdmin = false) => ({
  login,
  isAdmin,
  orgs: ['acme'],
  teams: ids[login] ? await teamsOf(g.services.db, ids[login]!) : [],
});
const job = async (login: string, contexts: string[], isAdmin = false) =>
  secrets.environmentFor({
    projectSlug: 'gh/acme/app',
    contexts,
    member: await member(login, isAdmin),
    jobId: `job-${login}`,
    context: { actor: systemActor, request: null },
  });
const refusedWith = (code: string) => (e: unknown) => e instanceof DomainError && e.code === code;

test.before(async () => {
  github = await startGitHubStandIn(client);
  g = await startTestGyre({ GYRE_GITHUB_URL: github.url, GYRE_GITHUB_CLIENT_ID: client.id, GYRE_GITHUB_CLIENT_SECRET: client.secret });
  gyre = await g.app.listen({ port: 0, host: '127.0.0.1' });
  secrets = g.services.jobSecrets;
  // a second opener over the same data keys and master key file, to look behind the API
  opener = (await createVault(g.services.db, loadMasterKeys({ dataDir: g.dataDir, warn: () => {} }))).opener;
  ids.dev = await signIn(201, 'dev', ['acme/release', 'other/ops']);
  ids.intern = await signIn(202, 'intern', ['acme/interns', 'other/release']);
  await ok('mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "/srv/git/app.git"}) { id } }');
  await ok('mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "SHARED", value: "from-project") { name } }');
  await ok('mutation { storeProjectEnvVar(slug: "gh/acme/app", name: "PROJECT_ONLY", value: "p-value") { name } }');
  for (const name of ['common', 'deploy', 'temp'])
    ids[name] = (await ok(`mutation { createContext(input: {owner: "gh/acme", name: "${name}"}) { id } }`)).createContext.id;
  await ok(`mutation { storeContextEnvVar(contextId: "${ids.common}", name: "SHARED", value: "from-common") { name } }`);
  await ok(`mutation { storeContextEnvVar(contextId: "${ids.deploy}", name: "DEPLOY_KEY", value: "deploy-key-value") { name } }`);
  await ok(`mutation { storeContextEnvVar(contextId: "${ids.temp}", name: "TEMP", value: "temp-value") { name } }`);
  await ok(`mutation { addContextRestriction(contextId: "${ids.deploy}", group: "Release") { id } }`);
});
test.after(async () => {
  await g.stop();
  await github.close();
});

test('every page of a person’s teams is read (GitHub gives at most 100 a page)', async () => {
  const many = Array.from({ length: 150 }, (_, i) => `bulk/team-${String(i).padStart(3, '0')}`);
  const id = await signIn(299, 'bulky', many);
  assert.equal(await teamsOf(g.services.db, id), [...many].sort());
});

test('teams read from GitHub at login are kept as the person’s security groups', async () => {
  assert.equal(await teamsOf(g.services.db, ids.dev!), ['acme/release', 'other/ops']);
  const login = await waitForAudit(g, (e) => e.action === 'user.logged_in' && e.payload.login === 'dev');
  assert.equal(login[0]!.payload.teams, ['acme/release', 'other/ops']);
});

test('a job gets the project’s values, overridden by its contexts’ in order, decrypted', async () => {
  assert.equal(await job('dev', ['common', 'deploy']), { SHARED: 'from-common', PROJECT_ONLY: 'p-value', DEPLOY_KEY: 'deploy-key-value' });
  assert.equal(await job('intern', []), { SHARED: 'from-project', PROJECT_ONLY: 'p-value' });
});

test('a build of a pull request from a fork gets no secrets, unless the project passes them to forks', async () => {
  const fromFork = () =>
    secrets.environmentFor({
      projectSlug: 'gh/acme/app',
      contexts: ['common'],
      member: { login: 'dev', isAdmin: false, orgs: ['acme'], teams: [] },
      jobId: 'job-fork',
      fromFork: true,
      context: { actor: systemActor, request: null },
    });
  assert.equal(await fromFork(), {});
  await ok('mutation { updateProjectSettings(slug: "gh/acme/app", input: {passSecretsToForkPullRequests: true}) { slug } }');
  assert.equal(await fromFork(), { SHARED: 'from-common', PROJECT_ONLY: 'p-value' });
  await ok('mutation { updateProjectSettings(slug: "gh/acme/app", input: {passSecretsToForkPullRequests: false}) { slug } }');
  assert.equal(await fromFork(), {});
});

test('each context used is recorded as context.secrets.accessed: names, never values', async () => {
  const accessed = await waitForAudit(g, (e) => e.action === 'context.secrets.accessed' && e.payload.jobId === 'job-dev', 2);
  assert.equal(
    accessed.map((e) => [e.target.name, e.payload.variables]),
    [
      ['common', ['SHARED']],
      ['deploy', ['DEPLOY_KEY']],
    ],
  );
  assert.equal(accessed[0]!.scope, { id: accessed[0]!.scope.id, type: 'project', name: 'gh/acme/app' });
  assert.not.match(JSON.stringify(accessed), /from-common|deploy-key-value/);
});

test('a restricted context is refused to non-members, a same-named team of another org, and admins without the team', async () => {
  await rejects(() => job('intern', ['common', 'deploy']), refusedWith('CONTEXT_RESTRICTED'));
  await rejects(() => job('admin', ['deploy'], true), refusedWith('CONTEXT_RESTRICTED'));
  // a refused job decrypts nothing and records no access
  const accessed = await waitForAudit(g, (e) => e.action === 'context.secrets.accessed' && ['job-intern', 'job-admin'].includes(e.payload.jobId), 1, 300);
  assert.is(accessed.length, 0);
});

test('membership follows GitHub: leaving the team and signing in again loses the context', async () => {
  await signIn(201, 'dev', ['other/ops']);
  await rejects(() => job('dev', ['deploy']), refusedWith('CONTEXT_RESTRICTED'));
  await signIn(201, 'dev', ['acme/release']);
  assert.is((await job('dev', ['deploy'])).DEPLOY_KEY, 'deploy-key-value');
});

test('removing the restriction opens the context to everyone who may run the pipeline', async () => {
  const r = (await ok(`{ context(id: "${ids.deploy}") { restrictions { id value } } }`)).context.restrictions;
  assert.equal(
    r.map((x: { value: string }) => x.value),
    ['release'],
  );
  await ok(`mutation { removeContextRestriction(contextId: "${ids.deploy}", restrictionId: "${r[0].id}") { id } }`);
  assert.is((await job('intern', ['deploy'])).DEPLOY_KEY, 'deploy-key-value');
});

test('deleting a context destroys its data key: its values cannot be decrypted even from the event log', async () => {
  const history = await g.services.store.readStream(contextStream(parseOrgSlug('gh/acme'), 'temp'));
  const stored = history.find((e) => e.type === 'context.env_var.store')!;
  const sealed = (stored.data as { secret: { sealed: string } }).secret.sealed;
  assert.is(await opener.open(contextOwner(ids.temp!), 'env TEMP', sealed), 'temp-value');
  await ok(`mutation { deleteContext(id: "${ids.temp}") }`);
  await rejects(
    () => opener.open(contextOwner(ids.temp!), 'env TEMP', sealed),
    (e) => e instanceof DestroyedKeyError,
  );
  await rejects(() => job('dev', ['temp']), refusedWith('CONTEXT_NOT_FOUND'));
});

test('a context deleted without its key destroyed (the process stopped before the reactor acted) loses the key when the reactors run again', async () => {
  const id = (await ok('mutation { createContext(input: {owner: "gh/acme", name: "crashy"}) { id } }')).createContext.id as string;
  await ok(`mutation { storeContextEnvVar(contextId: "${id}", name: "C", value: "crash-value") { name } }`);
  const stream = contextStream(parseOrgSlug('gh/acme'), 'crashy');
  const sealed = ((await g.services.store.readStream(stream)).find((e) => e.type === 'context.env_var.store')!.data as { secret: { sealed: string } }).secret
    .sealed;
  // the delete event lands, the process dies before destroying the key
  await g.services.reactors.stop();
  const r = await g.services.commands.execute({
    stream,
    decider: contextDecider,
    command: { type: 'delete', contextId: id, by: { login: 'admin', isAdmin: true, orgs: [], teams: [] } },
    context: { actor: systemActor, request: null },
    target: { id, type: 'context' },
  });
  assert.ok(await g.services.projections.waitFor(r.position!, 5000));
  assert.is(await opener.open(contextOwner(id), 'env C', sealed), 'crash-value');
  await g.services.reactors.start();
  await g.services.readYourWrites(r);
  await rejects(
    () => opener.open(contextOwner(id), 'env C', sealed),
    (e) => e instanceof DestroyedKeyError,
  );
});

test.run();

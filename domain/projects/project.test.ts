import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec, refusedWith } from '../../test/support/decider-spec.ts';
import { type GyreError, ValidationError } from '../errors.ts';
import type { Member } from '../organizations.ts';
import { eventRegistry } from '../events/catalog.ts';
import type { SealedSecret } from '../secrets/secret-value.ts';
import {
  defaultProjectSettings,
  parseProjectSettingsInput,
  projectDecider,
  projectStream,
  projectWebhookCreated,
  type ProjectCommand,
  type ProjectEvent,
  type ProjectSettings,
} from './project.ts';
import type { GitHosts } from './git-hosts.ts';
import { orgId, parseOrgSlug, parseProjectSlug } from './slugs.ts';

const test = suite('domain/projects/project');

/** Every event a decision emits must be one the event store would take: the kit parses each. */
const spec = deciderSpec(projectDecider, { registry: eventRegistry });
const given = spec.state;
/** Commands come from a member of acme unless they say who, with github.com as the only git host unless they say which. */
type Cmd = ProjectCommand extends infer C ? (C extends unknown ? Omit<C, 'by' | 'gitHosts'> & { by?: Member; gitHosts?: GitHosts } : never) : never;
const dev: Member = { login: 'dev', isAdmin: false, orgs: ['acme', 'other'], teams: [] };
const gitHosts: GitHosts = { githubUrl: 'https://github.com', allowed: [] };
const byDev = (c: Cmd) => ({ by: dev, gitHosts, ...c }) as ProjectCommand;
const decide = (history: ProjectEvent[], c: Cmd) => spec.decide(history, byDev(c));
/** Decides and appends, as the command bus does: the new history. */
const then = (history: ProjectEvent[], c: Cmd) => spec.then(history, byDev(c));
const invalid = (pattern: RegExp) => (e: unknown) => e instanceof ValidationError && e.code === 'BAD_USER_INPUT' && pattern.test(e.message);

const secret = (last4: string, body = 'AAAA'): SealedSecret => ({ sealed: `gyre:aes-256-gcm:${body}`, masked: `xxxx${last4}` });
const gitUrl = 'https://github.com/Acme/Web.git';
const slug = parseProjectSlug('github/Acme/Web');
const settings: ProjectSettings = defaultProjectSettings(gitUrl);
const created: ProjectEvent = {
  type: 'project.create',
  data: { projectId: 'p1', slug: 'gh/Acme/Web', name: 'Web', organization: 'Acme', organizationId: orgId('gh/acme'), settings },
};
const update = (u: Omit<Extract<ProjectCommand, { type: 'updateSettings' }>, 'type' | 'by' | 'gitHosts'> & { gitHosts?: GitHosts }): Cmd => ({
  type: 'updateSettings',
  ...u,
});

test('a project is created with the default settings, named after its slug and organization', () => {
  const events = decide([], { type: 'create', projectId: 'p1', slug, gitUrl });
  assert.equal(events, [
    {
      type: 'project.create',
      data: {
        projectId: 'p1',
        slug: 'gh/Acme/Web',
        name: 'Web',
        organization: 'Acme',
        organizationId: orgId(parseOrgSlug('gh/ACME').key),
        settings: {
          gitUrl,
          defaultBranch: 'main',
          buildForkPullRequests: false,
          passSecretsToForkPullRequests: false,
          onlyBuildPullRequests: false,
          autoCancelRedundantWorkflows: false,
        },
      },
    },
  ]);
  const p = given(events)!;
  assert.is(p.projectId, 'p1');
  assert.is(p.slug, 'gh/Acme/Web');
  assert.is(p.webhookSecret, null);
  assert.is(p.envVars.size, 0);
  assert.equal(p.settings, settings);
});

test('the organization id of a project is the one its organization has under every spelling', () => {
  const [a] = decide([], { type: 'create', projectId: 'p1', slug: parseProjectSlug('gh/ACME/web'), gitUrl });
  const [b] = decide([], { type: 'create', projectId: 'p2', slug: parseProjectSlug('github/acme/other'), gitUrl });
  const [c] = decide([], { type: 'create', projectId: 'p3', slug: parseProjectSlug('gh/Other/web'), gitUrl });
  assert.ok(a?.type === 'project.create' && b?.type === 'project.create' && c?.type === 'project.create');
  assert.is(a.data.organizationId, orgId(parseOrgSlug('gh/acme').key));
  assert.is(a.data.organizationId, b.data.organizationId);
  assert.is.not(a.data.organizationId, c.data.organizationId);
});

test('one stream per repository, whatever the spelling of its slug', () => {
  assert.is(projectStream(parseProjectSlug('gh/Acme/Web')), projectStream(parseProjectSlug('github/acme/web')));
  assert.is.not(projectStream(parseProjectSlug('gh/acme/web')), projectStream(parseProjectSlug('gh/acme/web2')));
});

test('a project is created once: following it again is PROJECT_EXISTS', () => {
  assert.throws(() => decide([created], { type: 'create', projectId: 'p2', slug, gitUrl }), refusedWith('PROJECT_EXISTS', /gh\/Acme\/Web is already followed/));
  const later = then([created], { type: 'storeEnvVar', name: 'A', secret: secret('1234') });
  assert.throws(() => decide(later, { type: 'create', projectId: 'p2', slug, gitUrl }), refusedWith('PROJECT_EXISTS'));
});

test('a create with a git URL that does not parse can never be appended: its event fails the schema', () => {
  for (const bad of ['ftp://example.com/web.git', 'relative/path']) {
    const [event] = projectDecider.decide({ type: 'create', projectId: 'p1', slug, gitUrl: bad, gitHosts, by: { ...dev, isAdmin: true } }, null);
    assert.throws(
      () => eventRegistry.parse(event!.type, event!.data),
      (e: unknown) => e instanceof ValidationError && /gitUrl/.test(String(e)),
      bad,
    );
  }
});

test('commands on a project that is not followed are PROJECT_NOT_FOUND', () => {
  for (const c of [
    update({ settings: { defaultBranch: 'dev' } }),
    update({ settings: {}, webhookSecret: secret('1234') }),
    { type: 'storeEnvVar', name: 'A', secret: secret('1234') },
    { type: 'deleteEnvVar', name: 'A' },
  ] as ProjectCommand[]) {
    assert.throws(
      () => decide([], c),
      (e: unknown) => refusedWith('PROJECT_NOT_FOUND')(e) && /createProject/.test(String(e)),
      c.type,
    );
  }
});

test('updateSettings emits only the fields that changed, and lists them', () => {
  const events = decide([created], update({ settings: { defaultBranch: 'develop', buildForkPullRequests: true, onlyBuildPullRequests: false, gitUrl } }));
  assert.equal(events, [
    {
      type: 'project.settings.update',
      data: {
        projectId: 'p1',
        slug: 'gh/Acme/Web',
        settings: { defaultBranch: 'develop', buildForkPullRequests: true },
        changed: ['defaultBranch', 'buildForkPullRequests'],
      },
    },
  ]);
  assert.not.ok('webhookSecret' in events[0]!.data, 'the secret is not mentioned when it is not changed');
  const after = given([created, ...events])!;
  assert.equal(after.settings, { ...settings, defaultBranch: 'develop', buildForkPullRequests: true });
  assert.is(after.webhookSecret, null);
});

test('updateSettings that changes nothing emits nothing', () => {
  assert.equal(decide([created], update({ settings: {} })), []);
  assert.equal(decide([created], update({ settings: { ...settings } })), [], 'the same values again');
  assert.equal(decide([created], update({ settings: { defaultBranch: undefined, gitUrl: undefined } })), [], 'fields left out');
  const changed = then([created], update({ settings: { autoCancelRedundantWorkflows: true } }));
  assert.equal(decide(changed, update({ settings: { autoCancelRedundantWorkflows: true } })), [], 'the value it already has');
  assert.equal(decide(changed, update({ settings: { autoCancelRedundantWorkflows: false } })).length, 1, 'changing it back is a change');
});

test('setting, replacing and removing the webhook secret lists webhookSecret in changed, sealed only', () => {
  const first = decide([created], update({ settings: {}, webhookSecret: secret('aaaa', 'AAAA') }));
  assert.equal(first, [
    {
      type: 'project.settings.update',
      data: { projectId: 'p1', slug: 'gh/Acme/Web', settings: {}, changed: ['webhookSecret'], webhookSecret: secret('aaaa', 'AAAA') },
    },
  ]);
  const withSecret = [created, ...first];
  assert.equal(given(withSecret)!.webhookSecret, secret('aaaa', 'AAAA'));

  const replaced = decide(withSecret, update({ settings: { defaultBranch: 'trunk' }, webhookSecret: secret('bbbb', 'BBBB') }));
  assert.equal(replaced.length, 1);
  assert.ok(replaced[0]!.type === 'project.settings.update');
  assert.equal(replaced[0]!.data.changed, ['defaultBranch', 'webhookSecret']);
  assert.equal(replaced[0]!.data.settings, { defaultBranch: 'trunk' });
  assert.equal(given([...withSecret, ...replaced])!.webhookSecret, secret('bbbb', 'BBBB'));

  const removed = decide(withSecret, update({ settings: {}, webhookSecret: null }));
  assert.equal(removed, [
    { type: 'project.settings.update', data: { projectId: 'p1', slug: 'gh/Acme/Web', settings: {}, changed: ['webhookSecret'], webhookSecret: null } },
  ]);
  assert.is(given([...withSecret, ...removed])!.webhookSecret, null);
});

test('removing a webhook secret that is not set is a no-op', () => {
  assert.equal(decide([created], update({ settings: {}, webhookSecret: null })), []);
  const removed = then(then([created], update({ settings: {}, webhookSecret: secret('aaaa') })), update({ settings: {}, webhookSecret: null }));
  assert.equal(decide(removed, update({ settings: {}, webhookSecret: null })), [], 'removing it twice');
  const onlySettings = decide([created], update({ settings: { defaultBranch: 'dev' }, webhookSecret: null }));
  assert.ok(onlySettings[0]?.type === 'project.settings.update');
  assert.equal(onlySettings[0].data.changed, ['defaultBranch'], 'webhookSecret is not listed');
  assert.not.ok('webhookSecret' in onlySettings[0].data);
});

test('an update that leaves the secret out keeps it', () => {
  const withSecret = then([created], update({ settings: {}, webhookSecret: secret('aaaa') }));
  const after = given(then(withSecret, update({ settings: { onlyBuildPullRequests: true } })))!;
  assert.equal(after.webhookSecret, secret('aaaa'));
  assert.is(after.settings.onlyBuildPullRequests, true);
});

test('storeEnvVar creates or replaces a variable; its value is only ever sealed', () => {
  const first = decide([created], { type: 'storeEnvVar', name: 'TOKEN', secret: secret('1111', 'AAAA') });
  assert.equal(first, [{ type: 'project.env_var.create', data: { projectId: 'p1', slug: 'gh/Acme/Web', name: 'TOKEN', secret: secret('1111', 'AAAA') } }]);
  const history = [created, ...first];
  const again = decide(history, { type: 'storeEnvVar', name: 'TOKEN', secret: secret('2222', 'BBBB') });
  assert.equal(
    again.map((e) => e.type),
    ['project.env_var.create'],
  );
  const p = given([...history, ...again, ...decide(history, { type: 'storeEnvVar', name: 'OTHER', secret: secret('3333') })])!;
  assert.is(p.envVars.size, 2);
  assert.equal(p.envVars.get('TOKEN'), secret('2222', 'BBBB'), 'the later value replaces the earlier');
  assert.equal(p.envVars.get('OTHER'), secret('3333'));
});

test('deleteEnvVar removes a variable; a name it does not have is ENV_VAR_NOT_FOUND', () => {
  const history = then([created], { type: 'storeEnvVar', name: 'TOKEN', secret: secret('1111') });
  assert.throws(
    () => decide(history, { type: 'deleteEnvVar', name: 'MISSING' }),
    refusedWith('ENV_VAR_NOT_FOUND', /gh\/Acme\/Web has no environment variable MISSING/),
  );
  assert.throws(() => decide(history, { type: 'deleteEnvVar', name: 'token' }), refusedWith('ENV_VAR_NOT_FOUND'), 'names are case-sensitive');
  const deleted = decide(history, { type: 'deleteEnvVar', name: 'TOKEN' });
  assert.equal(deleted, [{ type: 'project.env_var.delete', data: { projectId: 'p1', slug: 'gh/Acme/Web', name: 'TOKEN' } }]);
  const after = [...history, ...deleted];
  assert.is(given(after)!.envVars.size, 0);
  assert.throws(() => decide(after, { type: 'deleteEnvVar', name: 'TOKEN' }), refusedWith('ENV_VAR_NOT_FOUND'), 'deleting twice');
});

test('folding does not change the state it started from', () => {
  const before = given([created])!;
  projectDecider.evolve(before, { type: 'project.env_var.create', data: { projectId: 'p1', slug: 'gh/Acme/Web', name: 'A', secret: secret('1234') } });
  projectDecider.evolve(before, {
    type: 'project.settings.update',
    data: { projectId: 'p1', slug: 'gh/Acme/Web', settings: { defaultBranch: 'dev' }, changed: ['defaultBranch'] },
  });
  const withVar = then([created], { type: 'storeEnvVar', name: 'A', secret: secret('1234') });
  const s1 = given(withVar)!;
  projectDecider.evolve(s1, { type: 'project.env_var.delete', data: { projectId: 'p1', slug: 'gh/Acme/Web', name: 'A' } });
  projectDecider.evolve(s1, { type: 'project.env_var.create', data: { projectId: 'p1', slug: 'gh/Acme/Web', name: 'B', secret: secret('5678') } });
  assert.equal([...s1.envVars.keys()], ['A'], 'evolve copies the variables instead of changing them');
  assert.is(before.envVars.size, 0);
  assert.is(before.settings.defaultBranch, 'main');
});

test('parseProjectSettingsInput takes any subset of the settings and a webhook secret', () => {
  assert.equal(parseProjectSettingsInput({}), {});
  assert.equal(parseProjectSettingsInput({ defaultBranch: ' develop ', buildForkPullRequests: true }), {
    defaultBranch: 'develop',
    buildForkPullRequests: true,
  });
  assert.equal(parseProjectSettingsInput({ webhookSecret: null }), { webhookSecret: null });
  const hex = 'f'.repeat(64);
  assert.equal(parseProjectSettingsInput({ webhookSecret: hex, gitUrl: 'git@github.com:acme/web.git' }), {
    webhookSecret: hex,
    gitUrl: 'git@github.com:acme/web.git',
  });
  assert.equal(parseProjectSettingsInput({ webhookSecret: 'x'.repeat(16) }), { webhookSecret: 'x'.repeat(16) });
});

test('parseProjectSettingsInput refuses unknown fields', () => {
  assert.throws(() => parseProjectSettingsInput({ bogus: 1 }), invalid(/^invalid project settings: .*bogus/));
  assert.throws(() => parseProjectSettingsInput({ defaultBranch: 'dev', projectId: 'p2' }), invalid(/projectId/));
  assert.throws(() => parseProjectSettingsInput({ envVars: {} }), invalid(/envVars/));
});

test('parseProjectSettingsInput refuses a short webhook secret, saying how long it must be', () => {
  for (const short of ['', 'short', 'x'.repeat(15)]) {
    assert.throws(
      () => parseProjectSettingsInput({ webhookSecret: short }),
      invalid(/^invalid project settings: webhookSecret: must be at least 16 characters/),
      JSON.stringify(short),
    );
  }
  assert.throws(() => parseProjectSettingsInput({ webhookSecret: 'x'.repeat(257) }), invalid(/webhookSecret: must be at most 256 characters/));
});

test('parseProjectSettingsInput refuses values of the wrong kind, naming the field', () => {
  assert.throws(() => parseProjectSettingsInput({ gitUrl: 'ftp://example.com/web.git' }), invalid(/gitUrl: must use one of https, http, ssh, git, file/));
  assert.throws(() => parseProjectSettingsInput({ gitUrl: 'https://u:p@github.com/a/b' }), invalid(/gitUrl: must not contain a password/));
  assert.throws(() => parseProjectSettingsInput({ defaultBranch: 'my branch' }), invalid(/defaultBranch: must be a git branch name/));
  assert.throws(() => parseProjectSettingsInput({ defaultBranch: 'a:b' }), invalid(/defaultBranch/));
  assert.throws(() => parseProjectSettingsInput({ defaultBranch: '' }), invalid(/defaultBranch/));
  assert.throws(() => parseProjectSettingsInput({ buildForkPullRequests: 'yes' }), invalid(/buildForkPullRequests/));
  assert.throws(() => parseProjectSettingsInput({ webhookSecret: 12345678 }), invalid(/webhookSecret/));
  assert.throws(() => parseProjectSettingsInput(null), invalid(/^invalid project settings/));
});

test('only members of the organization, and admins, follow and change its projects', () => {
  const outsider: Member = { login: 'eve', isAdmin: false, orgs: ['other'], teams: ['acme/release'] };
  const admin: Member = { login: 'root', isAdmin: true, orgs: [], teams: [] };
  const commands: Cmd[] = [{ type: 'storeEnvVar', name: 'A', secret: secret('1234') }, update({ settings: { gitUrl: 'https://evil.example/web.git' } })];
  assert.throws(
    () => decide([], { type: 'create', projectId: 'p9', slug, gitUrl, by: outsider }),
    (e: unknown) => refusedWith('NOT_ORG_MEMBER')(e) && (e as GyreError).status === 403 && /not a member of the GitHub organization acme/.test(String(e)),
  );
  for (const c of commands) assert.throws(() => decide([created], { ...c, by: outsider } as Cmd), refusedWith('NOT_ORG_MEMBER'), c.type);
  for (const c of commands) assert.ok(decide([created], { ...c, by: admin } as Cmd).length > 0, c.type);
  assert.ok(
    decide([created], { type: 'storeEnvVar', name: 'A', secret: secret('1234'), by: { ...dev, orgs: ['ACME'] } }).length,
    'organization names compare case-insensitively',
  );
});

test('non-admins point a project only at the GitHub host or a host an admin allows; admins anywhere', () => {
  const allowing: GitHosts = { githubUrl: 'http://127.0.0.1:3000', allowed: ['git.internal', 'lab.internal:8443'] };
  const allowed = [
    'http://127.0.0.1:3000/acme/web.git',
    'ssh://git@127.0.0.1/acme/web.git',
    'https://git.internal/acme/web.git',
    'git@git.internal:acme/web.git',
    'https://lab.internal:8443/web.git',
  ];
  const refused = [
    'http://127.0.0.1:22/x.git',
    'https://127.0.0.1/x.git',
    'http://10.0.0.1:3000/x.git',
    'https://git.internal:22/x.git',
    'https://lab.internal/web.git',
    'git://127.0.0.1:3000/x',
  ];
  for (const url of allowed) assert.ok(decide([], { type: 'create', projectId: 'p1', slug, gitUrl: url, gitHosts: allowing }).length, url);
  for (const url of allowed) assert.ok(decide([created], update({ settings: { gitUrl: url }, gitHosts: allowing })).length, url);
  for (const url of refused) {
    const rule = (e: unknown) =>
      refusedWith('GIT_HOST_NOT_ALLOWED')(e) && (e as GyreError).status === 403 && /GitHub host 127\.0\.0\.1:3000.*GYRE_GIT_ALLOWED_HOSTS/.test(String(e));
    assert.throws(() => decide([], { type: 'create', projectId: 'p1', slug, gitUrl: url, gitHosts: allowing }), rule, url);
    assert.throws(() => decide([created], update({ settings: { gitUrl: url }, gitHosts: allowing })), rule, url);
    assert.ok(decide([], { type: 'create', projectId: 'p1', slug, gitUrl: url, gitHosts: allowing, by: { ...dev, isAdmin: true } }).length, url);
  }
  assert.throws(() => decide([], { type: 'create', projectId: 'p1', slug, gitUrl: '/srv/git/web.git' }), refusedWith('LOCAL_REPOSITORY'));
  // a URL parser reads the host 127.0.0.1:3000 here; git reads the user `127.0.0.1:3000\` at 10.0.0.1 (no one may store it: see git-url)
  assert.throws(
    () => decide([], { type: 'create', projectId: 'p1', slug, gitUrl: 'http://127.0.0.1:3000\\@10.0.0.1:22/x.git', gitHosts: allowing }),
    refusedWith('GIT_HOST_NOT_ALLOWED'),
  );
});

test('following with a webhook records it after the project; its secret is sealed and only its id is public', () => {
  const hook = { repository: 'Acme/Web', hookId: 7, followerId: 'u1', followerLogin: 'dev', webhookSecret: secret('beef') };
  const events = decide([], { type: 'create', projectId: 'p1', slug, gitUrl, hook });
  assert.equal(
    events.map((e) => e.type),
    ['project.create', 'project.webhook.create'],
  );
  assert.equal(events[1]!.data, { projectId: 'p1', slug: 'gh/Acme/Web', ...hook });
  assert.not.ok(projectWebhookCreated.publicFields.includes('webhookSecret'));
  const state = given(events)!;
  assert.equal([state.followed, state.hook?.hookId, state.webhookSecret?.masked], [true, 7, 'xxxxbeef']);
});

test('unfollowing names the webhook to remove; an unfollowed project is followed again with its id and settings; twice is refused', () => {
  const hook = { repository: 'Acme/Web', hookId: 7, followerId: 'u1', followerLogin: 'dev', webhookSecret: secret('beef') };
  const followed = then([], { type: 'create', projectId: 'p1', slug, gitUrl, hook });
  const unfollowed = then(followed, { type: 'unfollow' });
  assert.equal(unfollowed.at(-1)!.data, { projectId: 'p1', slug: 'gh/Acme/Web', repository: 'Acme/Web', hookId: 7 });
  assert.throws(() => decide(unfollowed, { type: 'unfollow' }), refusedWith('PROJECT_NOT_FOLLOWED'));
  assert.throws(() => decide(followed, { type: 'unfollow', by: { login: 'eve', isAdmin: false, orgs: ['other'], teams: [] } }), refusedWith('NOT_ORG_MEMBER'));
  assert.throws(() => decide([], { type: 'unfollow' }), refusedWith('PROJECT_NOT_FOUND'));
  assert.equal(given(unfollowed)!.repository, 'Acme/Web', 'the repository is kept for following again');
  assert.throws(
    () => decide(unfollowed, { type: 'create', projectId: 'p2', slug, gitUrl: 'https://github.com/Acme/Other.git' }),
    (e: unknown) => refusedWith('GIT_URL_CHANGED')(e) && String(e).includes(gitUrl),
  );
  const again = decide(unfollowed, { type: 'create', projectId: 'p2', slug, gitUrl, hook: { ...hook, hookId: 8 } });
  assert.equal(
    again.map((e) => [e.type, e.data.projectId]),
    [
      ['project.follow', 'p1'],
      ['project.webhook.create', 'p1'],
    ],
  );
  const state = given([...unfollowed, ...again])!;
  assert.equal([state.followed, state.hook?.hookId, state.settings.gitUrl], [true, 8, gitUrl]);
  assert.throws(() => decide([...unfollowed, ...again], { type: 'create', projectId: 'p3', slug, gitUrl }), refusedWith('PROJECT_EXISTS'));
});

test.run();

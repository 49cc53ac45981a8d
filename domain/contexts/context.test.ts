import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec, refusedWith } from '../../test/support/decider-spec.ts';
import type { GyreError } from '../errors.ts';
import { eventRegistry } from '../events/catalog.ts';
import { orgId, parseOrgSlug } from '../projects/slugs.ts';
import type { SealedSecret } from '../secrets/secret-value.ts';
import { mayUseContext, type Member, type Restriction } from './access.ts';
import { ContextName, TeamSlug, contextDecider, contextStream, type ContextCommand, type ContextEvent } from './context.ts';

const test = suite('domain/contexts/context');

/** Every event a decision emits must be one the event store would take: the kit parses each. */
const spec = deciderSpec(contextDecider, { registry: eventRegistry });
/** decide: the events decided; then: decides and appends, as the command bus does: the new history. */
const { decide, then, state: given } = spec;
const messages = (r: { error?: { issues: ReadonlyArray<{ message: string }> } }) => (r.error?.issues ?? []).map((i) => i.message).join('; ');

const secret = (last4: string, body = 'AAAA'): SealedSecret => ({ sealed: `gyre:aes-256-gcm:${body}`, masked: `xxxx${last4}` });
const acme = parseOrgSlug('gh/Acme');
const owner = { id: orgId(acme.key), slug: acme.slug };
const created: ContextEvent = { type: 'context.create', data: { contextId: 'c1', context: 'deploy', owner: { ...owner, type: 'organization' } } };
const member = (login: string, teams: string[] = [], isAdmin = false, orgs = ['acme']): Member => ({ login, isAdmin, orgs, teams });
const outsider = member('mallory', ['other/release', 'acme/readers']);
const releaser = member('rita', ['Acme/Release']);
const admin = member('root', [], true);
const restriction = (id: string, value: string): Restriction => ({ id, type: 'group', value });
/** `deploy`, restricted to acme/release, holding TOKEN. */
const restricted = (): ContextEvent[] => {
  let h = then([created], { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('1111'), by: admin });
  h = then(h, { type: 'restrict', contextId: 'c1', restrictionId: 'r1', group: 'release' });
  return h;
};

// ---- the context's life ----

test('a context is created in its organization, with no variables and no restrictions', () => {
  const events = decide([], { type: 'create', contextId: 'c1', name: 'deploy', owner, by: member('creator') });
  assert.equal(events, [
    { type: 'context.create', data: { contextId: 'c1', context: 'deploy', owner: { id: owner.id, slug: 'gh/Acme', type: 'organization' } } },
  ]);
  const c = given(events)!;
  assert.equal(
    { id: c.contextId, name: c.name, owner: c.owner, vars: c.envVars.size, restrictions: c.restrictions },
    { id: 'c1', name: 'deploy', owner, vars: 0, restrictions: [] },
  );
});

test('a name is taken once: creating it again is CONTEXT_EXISTS', () => {
  assert.throws(
    () => decide([created], { type: 'create', contextId: 'c2', name: 'deploy', owner, by: member('creator') }),
    (e: unknown) => refusedWith('CONTEXT_EXISTS')(e) && /gh\/Acme already has a context named deploy/.test(String(e)),
  );
});

test('one stream per organization and lower-cased name', () => {
  assert.is(contextStream(parseOrgSlug('gh/Acme'), 'Deploy'), contextStream(parseOrgSlug('github/acme'), 'deploy'));
  assert.is.not(contextStream(parseOrgSlug('gh/acme'), 'deploy'), contextStream(parseOrgSlug('gh/other'), 'deploy'));
  assert.is.not(contextStream(parseOrgSlug('gh/acme'), 'deploy'), contextStream(parseOrgSlug('gh/acme'), 'deploy2'));
});

test('a deleted context ends; one created later under its name is a new context with a new id', () => {
  const history = then(restricted(), { type: 'delete', contextId: 'c1', by: admin });
  assert.equal(history.at(-1), { type: 'context.delete', data: { contextId: 'c1', context: 'deploy' } });
  assert.is(given(history), null);
  const again = decide(history, { type: 'create', contextId: 'c2', name: 'deploy', owner, by: member('creator') });
  assert.equal(
    again.map((e) => e.type),
    ['context.create'],
  );
  const c = given([...history, ...again])!;
  assert.is(c.contextId, 'c2');
  assert.is(c.envVars.size, 0, 'the old values are gone');
  assert.equal(c.restrictions, [], 'the old restrictions are gone');
});

test('commands naming a stale or unknown contextId are CONTEXT_NOT_FOUND', () => {
  const recreated = then(then([created], { type: 'delete', contextId: 'c1', by: admin }), {
    type: 'create',
    contextId: 'c2',
    name: 'deploy',
    owner,
    by: member('creator'),
  });
  const stale: ContextCommand[] = [
    { type: 'delete', contextId: 'c1', by: admin },
    { type: 'storeEnvVar', contextId: 'c1', variable: 'A', secret: secret('1234'), by: admin },
    { type: 'deleteEnvVar', contextId: 'c1', variable: 'A', by: admin },
    { type: 'restrict', contextId: 'c1', restrictionId: 'r', group: 'ops' },
    { type: 'unrestrict', contextId: 'c1', restrictionId: 'r' },
  ];
  for (const c of stale) {
    assert.throws(() => decide(recreated, c), refusedWith('CONTEXT_NOT_FOUND'), `${c.type} on the deleted context`);
    assert.throws(() => decide([], c), refusedWith('CONTEXT_NOT_FOUND'), `${c.type} on nothing`);
    assert.throws(() => decide([created], { ...c, contextId: 'nope' }), refusedWith('CONTEXT_NOT_FOUND'), `${c.type} with another id`);
  }
  assert.throws(
    () => decide(then([created], { type: 'delete', contextId: 'c1', by: admin }), { type: 'delete', contextId: 'c1', by: admin }),
    refusedWith('CONTEXT_NOT_FOUND'),
    'deleting twice',
  );
});

test('events of another context id leave the live one alone', () => {
  const s = given([created])!;
  const stale = { contextId: 'old', context: 'deploy' };
  assert.is(contextDecider.evolve(s, { type: 'context.delete', data: stale }), s);
  assert.is(contextDecider.evolve(s, { type: 'context.env_var.store', data: { ...stale, variable: 'A', secret: secret('1234') } }), s);
  assert.is(contextDecider.evolve(s, { type: 'context.restriction.create', data: { ...stale, restrictionId: 'r', type: 'group', value: 'ops' } }), s);
});

// ---- variables ----

test('storeEnvVar creates or replaces a variable; deleteEnvVar removes it', () => {
  const first = decide([created], { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('1111', 'AAAA'), by: outsider });
  assert.equal(first, [{ type: 'context.env_var.store', data: { contextId: 'c1', context: 'deploy', variable: 'TOKEN', secret: secret('1111', 'AAAA') } }]);
  const replaced = then([created, ...first], { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('2222', 'BBBB'), by: outsider });
  assert.is(given(replaced)!.envVars.size, 1);
  assert.equal(given(replaced)!.envVars.get('TOKEN'), secret('2222', 'BBBB'));
  const deleted = decide(replaced, { type: 'deleteEnvVar', contextId: 'c1', variable: 'TOKEN', by: outsider });
  assert.equal(deleted, [{ type: 'context.env_var.delete', data: { contextId: 'c1', context: 'deploy', variable: 'TOKEN' } }]);
  assert.is(given([...replaced, ...deleted])!.envVars.size, 0);
});

test('deleting a variable the context does not have is ENV_VAR_NOT_FOUND', () => {
  assert.throws(
    () => decide([created], { type: 'deleteEnvVar', contextId: 'c1', variable: 'NOPE', by: admin }),
    (e: unknown) => refusedWith('ENV_VAR_NOT_FOUND')(e) && /context deploy has no environment variable NOPE/.test(String(e)),
  );
});

// ---- restrictions ----

test('restrict records the group lower-cased; restricting to it again changes nothing', () => {
  const events = decide([created], { type: 'restrict', contextId: 'c1', restrictionId: 'r1', group: 'Release-Team' });
  assert.equal(events, [
    { type: 'context.restriction.create', data: { contextId: 'c1', context: 'deploy', restrictionId: 'r1', type: 'group', value: 'release-team' } },
  ]);
  const history = [created, ...events];
  assert.equal(given(history)!.restrictions, [restriction('r1', 'release-team')]);
  assert.equal(decide(history, { type: 'restrict', contextId: 'c1', restrictionId: 'r2', group: 'release-team' }), []);
  assert.equal(decide(history, { type: 'restrict', contextId: 'c1', restrictionId: 'r3', group: 'RELEASE-TEAM' }), []);
  const two = then(history, { type: 'restrict', contextId: 'c1', restrictionId: 'r4', group: 'ops' });
  assert.equal(given(two)!.restrictions, [restriction('r1', 'release-team'), restriction('r4', 'ops')]);
});

test('unrestrict removes a restriction by id; an unknown id is RESTRICTION_NOT_FOUND', () => {
  const history = then(restricted(), { type: 'restrict', contextId: 'c1', restrictionId: 'r2', group: 'ops' });
  assert.throws(
    () => decide(history, { type: 'unrestrict', contextId: 'c1', restrictionId: 'nope' }),
    (e: unknown) => refusedWith('RESTRICTION_NOT_FOUND')(e) && /context deploy has no restriction with that id/.test(String(e)),
  );
  assert.throws(
    () => decide(history, { type: 'unrestrict', contextId: 'c1', restrictionId: 'release' }),
    refusedWith('RESTRICTION_NOT_FOUND'),
    'by id, not by group',
  );
  const removed = decide(history, { type: 'unrestrict', contextId: 'c1', restrictionId: 'r1' });
  assert.equal(removed, [
    { type: 'context.restriction.delete', data: { contextId: 'c1', context: 'deploy', restrictionId: 'r1', type: 'group', value: 'release' } },
  ]);
  const after = [...history, ...removed];
  assert.equal(given(after)!.restrictions, [restriction('r2', 'ops')]);
  assert.throws(() => decide(after, { type: 'unrestrict', contextId: 'c1', restrictionId: 'r1' }), refusedWith('RESTRICTION_NOT_FOUND'), 'removing twice');
  assert.equal(decide(after, { type: 'restrict', contextId: 'c1', restrictionId: 'r5', group: 'release' }).length, 1, 'a removed group can be added again');
});

test('on a restricted context, a non-member who is not an admin may not change values or delete it', () => {
  const history = restricted();
  const refusal = (e: unknown) =>
    refusedWith('CONTEXT_RESTRICTED')(e) &&
    /mallory is in none of the groups this context is restricted to \(acme\/release\)/.test(String(e)) &&
    /only its groups' members and admins may change it/.test(String(e));
  assert.throws(() => decide(history, { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('6666'), by: outsider }), refusal);
  assert.throws(() => decide(history, { type: 'storeEnvVar', contextId: 'c1', variable: 'NEW', secret: secret('6666'), by: outsider }), refusal);
  assert.throws(() => decide(history, { type: 'deleteEnvVar', contextId: 'c1', variable: 'TOKEN', by: outsider }), refusal);
  assert.throws(
    () => decide(history, { type: 'deleteEnvVar', contextId: 'c1', variable: 'MISSING', by: outsider }),
    refusal,
    'refused before telling whether the variable exists',
  );
  assert.throws(() => decide(history, { type: 'delete', contextId: 'c1', by: outsider }), refusal);
  assert.throws(() => decide(history, { type: 'delete', contextId: 'c1', by: member('nobody') }), refusedWith('CONTEXT_RESTRICTED'), 'no teams at all');
});

test('on a restricted context, a member of one of its groups may change values and delete it', () => {
  const history = then(restricted(), { type: 'restrict', contextId: 'c1', restrictionId: 'r2', group: 'ops' });
  for (const who of [releaser, member('otto', ['acme/ops']), member('rita2', ['ACME/RELEASE', 'other/x'])]) {
    assert.equal(
      decide(history, { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('7777'), by: who }).map((e) => e.type),
      ['context.env_var.store'],
      who.login,
    );
    assert.equal(
      decide(history, { type: 'deleteEnvVar', contextId: 'c1', variable: 'TOKEN', by: who }).map((e) => e.type),
      ['context.env_var.delete'],
      who.login,
    );
    assert.equal(
      decide(history, { type: 'delete', contextId: 'c1', by: who }).map((e) => e.type),
      ['context.delete'],
      who.login,
    );
  }
});

test('on a restricted context, an admin who is in none of its groups may still change it', () => {
  const history = restricted();
  assert.equal(
    decide(history, { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('8888'), by: admin }).map((e) => e.type),
    ['context.env_var.store'],
  );
  assert.equal(
    decide(history, { type: 'deleteEnvVar', contextId: 'c1', variable: 'TOKEN', by: admin }).map((e) => e.type),
    ['context.env_var.delete'],
  );
  assert.equal(
    decide(history, { type: 'delete', contextId: 'c1', by: admin }).map((e) => e.type),
    ['context.delete'],
  );
  assert.throws(() => decide(history, { type: 'deleteEnvVar', contextId: 'c1', variable: 'MISSING', by: admin }), refusedWith('ENV_VAR_NOT_FOUND'));
});

test('a team of another organization with the same slug does not open a restricted context for changes', () => {
  const history = restricted();
  const lookalike = member('eve', ['other/release', 'release', 'gh/acme/release']);
  assert.throws(
    () => decide(history, { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('9999'), by: lookalike }),
    refusedWith('CONTEXT_RESTRICTED'),
  );
  assert.throws(() => decide(history, { type: 'delete', contextId: 'c1', by: lookalike }), refusedWith('CONTEXT_RESTRICTED'));
});

test('once its last restriction is removed, anyone may change the context again', () => {
  const open = then(restricted(), { type: 'unrestrict', contextId: 'c1', restrictionId: 'r1' });
  assert.equal(
    decide(open, { type: 'storeEnvVar', contextId: 'c1', variable: 'TOKEN', secret: secret('0000'), by: outsider }).map((e) => e.type),
    ['context.env_var.store'],
  );
  assert.equal(
    decide(open, { type: 'delete', contextId: 'c1', by: outsider }).map((e) => e.type),
    ['context.delete'],
  );
});

// ---- mayUseContext ----

test('mayUseContext: a context without restrictions is open to anyone', () => {
  assert.equal(mayUseContext([], 'gh/Acme', member('anyone')), { allowed: true });
  assert.equal(mayUseContext([], 'gh/Acme', outsider), { allowed: true });
});

test('mayUseContext: a restricted context is open only to members of org/team of its owner, case-insensitively', () => {
  const rs = [restriction('r1', 'release'), restriction('r2', 'ops')];
  assert.equal(mayUseContext(rs, 'gh/Acme', member('a', ['acme/release'])), { allowed: true });
  assert.equal(mayUseContext(rs, 'gh/Acme', member('b', ['Acme/Release'])), { allowed: true });
  assert.equal(mayUseContext(rs, 'gh/ACME', member('c', ['ACME/OPS'])), { allowed: true });
  assert.equal(mayUseContext(rs, 'gh/acme', member('d', ['other/x', 'acme/ops'])), { allowed: true }, 'one matching team is enough');
  assert.equal(mayUseContext(rs, 'gh/acme', member('e', ['acme/readers'])).allowed, false, 'another team of the organization');
  assert.equal(mayUseContext(rs, 'gh/acme', member('f', [])).allowed, false, 'no teams');
});

test('mayUseContext: a team of another organization with the same slug does not count', () => {
  const rs = [restriction('r1', 'release')];
  for (const teams of [['other/release'], ['release'], ['acme-corp/release'], ['acme/release-2'], ['gh/acme/release'], ['xacme/release']]) {
    assert.equal(mayUseContext(rs, 'gh/acme', member('eve', teams)).allowed, false, teams.join(','));
  }
});

test('mayUseContext: admins are not exempt', () => {
  const rs = [restriction('r1', 'release')];
  assert.equal(mayUseContext(rs, 'gh/acme', admin).allowed, false);
  assert.equal(mayUseContext(rs, 'gh/acme', member('root', ['acme/release'], true)), { allowed: true });
});

test('mayUseContext: the refusal names the member and every group, as org/team', () => {
  const rs = [restriction('r1', 'release'), restriction('r2', 'ops')];
  const r = mayUseContext(rs, 'gh/Acme', member('mallory', ['other/release']));
  assert.equal(r, { allowed: false, reason: 'mallory is in none of the groups this context is restricted to (acme/release, acme/ops)' });
});

test('mayUseContext agrees with the restrictions the decider records', () => {
  const c = given(then([created], { type: 'restrict', contextId: 'c1', restrictionId: 'r1', group: 'Release' }))!;
  assert.equal(mayUseContext(c.restrictions, c.owner.slug, member('a', ['acme/release'])), { allowed: true });
  assert.equal(mayUseContext(c.restrictions, c.owner.slug, member('b', ['ACME/Release'])), { allowed: true });
  assert.equal(mayUseContext(c.restrictions, c.owner.slug, member('c', ['other/release'])).allowed, false);
});

// ---- names ----

test('ContextName takes names that start with a letter or digit and hold letters, digits, spaces, . - _', () => {
  for (const ok of ['deploy', 'Deploy Keys', 'org-global', 'aws_prod.v2', '1password', 'x'.repeat(100)]) {
    const r = ContextName.safeParse(ok);
    assert.ok(r.success, ok);
    assert.is(r.data, ok);
  }
  assert.is(ContextName.parse('  deploy  '), 'deploy', 'surrounding spaces are dropped');
});

test('ContextName refuses empty, long and oddly spelled names, saying why', () => {
  assert.match(messages(ContextName.safeParse('')), /must not be empty/);
  assert.match(messages(ContextName.safeParse('   ')), /must not be empty/);
  assert.match(messages(ContextName.safeParse('x'.repeat(101))), /at most 100 characters/);
  for (const bad of ['-deploy', '.deploy', '_deploy', 'de/ploy', 'de:ploy', 'dé', 'a\tb', 'a\nb', '$x']) {
    const r = ContextName.safeParse(bad);
    assert.not.ok(r.success, JSON.stringify(bad));
    assert.match(messages(r), /must start with a letter or digit and hold only letters, digits, spaces, dots, dashes and underscores/, JSON.stringify(bad));
  }
  assert.not.ok(ContextName.safeParse(42).success);
});

test('TeamSlug takes GitHub team slugs and refuses anything else', () => {
  for (const ok of ['release', 'Release-Team', 'ops_2', 'a.b', 'x'.repeat(100)]) assert.ok(TeamSlug.safeParse(ok).success, ok);
  assert.is(TeamSlug.parse(' release '), 'release');
  for (const bad of ['', '   ', 'acme/release', 'release team', 'rel@se', 'x'.repeat(101), 'équipe']) {
    const r = TeamSlug.safeParse(bad);
    assert.not.ok(r.success, JSON.stringify(bad));
    assert.match(messages(r), /must be a GitHub team slug/);
  }
});

test('only members of the owner organization, and admins, create and change its contexts', () => {
  const stranger = member('eve', ['acme/release'], false, ['other']);
  assert.throws(
    () => decide([], { type: 'create', contextId: 'c9', name: 'x', owner, by: stranger }),
    (e: unknown) => refusedWith('NOT_ORG_MEMBER')(e) && (e as GyreError).status === 403,
  );
  assert.throws(
    () => decide([created], { type: 'storeEnvVar', contextId: 'c1', variable: 'A', secret: secret('1234'), by: stranger }),
    refusedWith('NOT_ORG_MEMBER'),
  );
  assert.throws(() => decide([created], { type: 'delete', contextId: 'c1', by: stranger }), refusedWith('NOT_ORG_MEMBER'));
  assert.ok(decide([created], { type: 'delete', contextId: 'c1', by: member('root', [], true, []) }).length === 1, 'admins may');
});

test.run();

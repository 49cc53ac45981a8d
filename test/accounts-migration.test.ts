import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { createGyre, type Gyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { signInWithGitHub } from '../application/accounts.ts';
import { migrateAccounts } from '../application/accounts-migration.ts';
import { createCommandHandler } from '../application/commands.ts';
import { generateToken, hashToken } from '../application/tokens.ts';
import { systemActor, type DomainEvent } from '../domain/events/envelope.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { accountStream, legacyAccountsStream } from '../domain/users/accounts.ts';
import { githubUserStream } from '../domain/users/github-identity.ts';
import { rosterStream } from '../domain/users/roster.ts';
import { resetDatabase, testDatabase } from './support/database.ts';

const test = suite('accounts migration: the one accounts stream of earlier versions, into streams of their own');
const context = { actor: systemActor, request: null };
const adminToken = generateToken();
const ids = { admin: randomUUID(), ann: randomUUID(), bob: randomUUID(), cat: randomUUID(), dan: randomUUID() };
const servers: Array<{ gyre: Gyre; dir: string }> = [];

/** A log as an earlier Gyre wrote it: every account in one `accounts` stream, settings changes without the whole settings. */
const writeOldLog = async () => {
  const store = await createPostgresEventStore(testDatabase());
  const commands = createCommandHandler(store, eventRegistry);
  const user = (login: string, id: string) => ({ id, type: 'user', name: login });
  const old: Array<[DomainEvent, ReturnType<typeof user>]> = [
    [
      { type: 'user.create', data: { userId: ids.admin, login: 'admin', name: 'Administrator', state: 'ACTIVE', isAdmin: true, githubId: null } },
      user('admin', ids.admin),
    ],
    [
      { type: 'user.api_token.create', data: { userId: ids.admin, tokenId: 't-admin', label: 'admin', tokenHash: hashToken(adminToken) } },
      user('admin', ids.admin),
    ],
    [{ type: 'user.create', data: { userId: ids.ann, login: 'Ann', name: 'Ann', state: 'ACTIVE', isAdmin: false, githubId: 11 } }, user('Ann', ids.ann)],
    [{ type: 'user.api_token.create', data: { userId: ids.ann, tokenId: 't-ann', label: 'ci', tokenHash: hashToken(generateToken()) } }, user('Ann', ids.ann)],
    [{ type: 'user.create', data: { userId: ids.bob, login: 'bob', name: 'Bob', state: 'ACTIVE', isAdmin: false, githubId: 12 } }, user('bob', ids.bob)],
    [{ type: 'user.suspend', data: { userId: ids.bob, login: 'bob' } }, user('bob', ids.bob)],
    [{ type: 'user.approve', data: { userId: ids.cat, login: 'cat' } }, user('cat', ids.cat)],
    [{ type: 'user.create', data: { userId: ids.dan, login: 'dan', name: 'Dan', state: 'ACTIVE', isAdmin: false, githubId: null } }, user('dan', ids.dan)],
    [{ type: 'user.delete', data: { userId: ids.dan, login: 'dan' } }, user('dan', ids.dan)],
  ];
  for (const [event, target] of old) await store.append(legacyAccountsStream, commands.envelop([event], { context, target }), 'any');
  const settings = { id: 'system-settings', type: 'system_settings' };
  await store.append(
    'system-settings',
    commands.envelop([{ type: 'system.settings.update', data: { changes: { licenseSeats: { from: null, to: 3 } } } }], { context, target: settings }),
    'any',
  );
  await store.append(
    'system-settings',
    commands.envelop([{ type: 'system.settings.update', data: { changes: { suspendNewUsers: { from: false, to: true } } } }], { context, target: settings }),
    'any',
  );
};

const start = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-migration-'));
  const gyre = await createGyre(loadConfig({ GYRE_DATA_DIR: dir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false' }), { db: testDatabase(), logger: false });
  servers.push({ gyre, dir });
  return gyre;
};

test.before(async () => {
  await resetDatabase();
  await writeOldLog();
});
test.after(async () => {
  for (const { gyre, dir } of servers) {
    await gyre.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

let a: Gyre;
test('two servers starting at once on one database move each account once, and write one roster', async () => {
  [a] = await Promise.all([start(), start()]);
  const store = a.services.store;
  const { events } = await store.readAll('', { limit: 10_000 });
  const imports = events.filter((e) => e.type === 'user.import');
  assert.equal(
    imports.map((e) => (e.data as { login: string }).login).sort(),
    ['Ann', 'admin', 'bob', 'cat'],
    'every account living in the old stream, once; the deleted one not at all',
  );
  assert.equal(imports.map((e) => e.stream).sort(), ['account-admin', 'account-ann', 'account-bob', 'account-cat']);
  const ann = imports.find((e) => e.stream === accountStream('ann'))!.data;
  assert.equal(ann, { userId: ids.ann, login: 'Ann', githubId: 11, state: 'ACTIVE', isAdmin: false, tokenIds: ['t-ann'] });
  const rosters = await store.readStream(rosterStream, 0);
  assert.is(rosters.length, 1);
  assert.equal((rosters[0]!.data as Record<string, unknown>).seatsUsed, 2);
  assert.equal((rosters[0]!.data as Record<string, unknown>).reserved, 1);
  assert.equal((rosters[0]!.data as Record<string, unknown>).activeAdmins, 1);
  assert.equal(
    (await store.readStream(githubUserStream(11), 0)).map((e) => (e.data as { userId: string }).userId),
    [ids.ann],
  );
  assert.equal(
    (await store.readStream(githubUserStream(12), 0)).map((e) => (e.data as { userId: string }).userId),
    [ids.bob],
  );
  assert.is(await migrateAccounts(a.services), null, 'a third start finds the roster and does nothing');
  const audit = eventRegistry.publicPayload('user.import', ann);
  assert.not.ok('tokenIds' in audit);
});

const gql = async (query: string) => {
  const res = await a.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    payload: { query },
  });
  return res.json() as { data: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
};

test('after the move, the accounts and the settings of the old log decide as before', async () => {
  assert.is(await a.bootstrap(), null, 'the old admin is the admin: none is created');
  await a.services.settled();
  assert.equal((await gql('{ systemSettings { licenseSeats suspendNewUsers } }')).data!.systemSettings, { licenseSeats: 3, suspendNewUsers: true });
  assert.is((await gql('mutation { activateUser(login: "bob") { state } }')).data!.activateUser.state, 'ACTIVE', '2 of 3 seats in use: bob takes the third');
  const full = await gql('mutation { approveUser(login: "eve") { state } }');
  assert.is(full.errors?.[0]?.extensions?.code, 'SEATS_EXHAUSTED');
  assert.match(full.errors![0]!.message, /3 in use and 1 reserved by approvals, of 3/);
  assert.is((await gql('mutation { approveUser(login: "cat") { state } }')).errors?.[0]?.extensions?.code, 'USER_EXISTS', 'logins stay unique across the move');
  // the settings stream of the old shape is folded whole once; the update then carries the whole settings
  assert.equal((await gql('mutation { updateSystemSettings(input: {licenseSeats: 10}) { licenseSeats suspendNewUsers } }')).data!.updateSystemSettings, {
    licenseSeats: 10,
    suspendNewUsers: true,
  });
  const last = (await a.services.store.readLast('system-settings'))!;
  assert.equal((last.data as { settings: Record<string, unknown> }).settings.suspendNewUsers, true);
  // ann's GitHub id still leads to ann's account
  const ann = await signInWithGitHub(a.services, context, { id: 11, login: 'ann-renamed', name: 'Ann', orgs: [], teams: [] });
  assert.is(ann.userId, ids.ann);
  assert.is((await gql('mutation { revokeAdmin(login: "admin") { isAdmin } }')).errors?.[0]?.extensions?.code, 'SELF_REVOKE');
});

test.run();

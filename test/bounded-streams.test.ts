import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { settlePending, signInWithGitHub } from '../application/accounts.ts';
import { createCommandHandler } from '../application/commands.ts';
import { updateSystemSettings } from '../application/settings.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { retentionFields, settingsStream, type SystemSettings } from '../domain/system/settings.ts';
import { accountStream } from '../domain/users/accounts.ts';
import { githubUserStream } from '../domain/users/github-identity.ts';
import { rosterDecider, rosterStream, rosterTarget, type PendingChange, type Roster } from '../domain/users/roster.ts';
import { seatsInUse } from '../projections/users.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';

const test = suite('streams that stay small: accounts, the roster, GitHub claims and settings (real HTTP)');
let g: TestGyre;
let base: string;
/** Every stream some command read whole, while this suite ran. */
const readWhole: string[] = [];

test.before(async () => {
  g = await startTestGyre();
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  const store = g.services.store;
  const readStream = store.readStream.bind(store);
  store.readStream = (stream, from) => {
    if (from === undefined) readWhole.push(stream);
    return readStream(stream, from);
  };
});
test.after(async () => g.stop());

const gql = async (query: string, variables: Record<string, unknown> = {}, token = g.adminToken) => {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
};
const roster = async (): Promise<Roster> => {
  const last = await g.services.store.readLast(rosterStream);
  return last ? rosterDecider.evolve(rosterDecider.initialState(), last as never) : rosterDecider.initialState();
};
const setSeats = (n: number | null) => gql('mutation($n: Int) { updateSystemSettings(input: {licenseSeats: $n}) { licenseSeats } }', { n });
const context = { actor: systemActor, request: null };

test('16 concurrent updateSystemSettings: none fails, the fields they set are merged, the last event holds the whole settings', async () => {
  const fields = retentionFields;
  const inputs = Array.from({ length: 16 }, (_, i) => (i < fields.length ? { [fields[i]!]: 10 + i } : { licenseSeats: 100 + i }));
  const answers = await Promise.all(
    inputs.map((input) => gql('mutation($i: SystemSettingsInput!) { updateSystemSettings(input: $i) { licenseSeats } }', { i: input })),
  );
  assert.equal(
    answers.filter((a) => a.errors).map((a) => a.errors![0]!.extensions?.code),
    [],
    'no update answered an error',
  );
  const now = (await gql(`{ systemSettings { licenseSeats ${fields.join(' ')} } }`)).data!.systemSettings as SystemSettings;
  for (const [i, f] of fields.entries()) assert.is(now[f], 10 + i, `${f} as its one writer set it`);
  assert.ok(
    inputs.slice(fields.length).some((i) => i.licenseSeats === now.licenseSeats),
    'licenseSeats is one of the values written',
  );
  const last = (await g.services.store.readLast(settingsStream))!;
  assert.equal((last.data as { settings: SystemSettings }).settings.licenseSeats, now.licenseSeats);
  await setSeats(null);
});

test('an update that keeps meeting other writers retries past the default five attempts and never answers CONFLICT', async () => {
  let intrusions = 8;
  const store = g.services.store;
  // a store that lets another admin's update in between this update's read and its append, 8 times
  const racing = {
    ...store,
    readLast: async (stream: string) => {
      const last = await store.readLast(stream);
      if (stream === settingsStream && intrusions-- > 0) {
        await createCommandHandler(store, eventRegistry).execute({
          stream,
          decider: (await import('../domain/system/settings.ts')).settingsDecider,
          command: { type: 'update', input: { cacheRetentionDays: 20 + intrusions } },
          context,
          target: { id: 'system-settings', type: 'system_settings' },
          lastEventOnly: true,
        });
      }
      return last;
    },
  };
  const s = { db: g.services.db, commands: createCommandHandler(racing, eventRegistry), readYourWrites: g.services.readYourWrites };
  const settings = await updateSystemSettings(s, context, { workspaceRetentionDays: 9 });
  assert.is(settings.workspaceRetentionDays, 9);
  assert.is(settings.cacheRetentionDays, 20, "the other writer's last value stays: the retried update set only its own field");
  assert.is(intrusions, -1, 'it was decided 9 times');
});

test('seats stay exact under concurrency: 8 activations racing for 3 seats, 3 win', async () => {
  const logins = Array.from({ length: 8 }, (_, i) => `racer${i}`);
  for (const login of logins) await g.createUser(login);
  for (const login of logins) assert.is((await gql(`mutation { suspendUser(login: "${login}") { state } }`)).data!.suspendUser.state, 'SUSPENDED');
  const used = await seatsInUse(g.services.db);
  await setSeats(used + 3);
  const answers = await Promise.all(logins.map((login) => gql(`mutation { activateUser(login: "${login}") { state } }`)));
  assert.is(answers.filter((a) => a.data?.activateUser?.state === 'ACTIVE').length, 3);
  assert.is(answers.filter((a) => a.errors?.[0]?.extensions?.code === 'SEATS_EXHAUSTED').length, 5);
  await g.services.settled();
  assert.is(await seatsInUse(g.services.db), used + 3);
  const r = await roster();
  assert.is(r.seatsUsed, used + 3, 'the roster counts what the read model does');
  assert.equal(r.pending, []);
  await setSeats(null);
});

/** What a server does before it dies between the steps: the roster takes the seat, the account is never written. */
const reserveAndDie = async (
  login: string,
  accountRevision: number,
  event: { type: string; data: { userId: string; login: string } & Record<string, unknown> },
): Promise<PendingChange> => {
  const events = g.services.commands.envelop([event], { context, target: { id: event.data.userId, type: 'user', name: login } });
  const change: PendingChange = {
    id: randomUUID(),
    login,
    accountRevision,
    delta: { seats: 1, reserved: 0, admins: 0 },
    events: events as PendingChange['events'],
  };
  await g.services.commands.execute({
    stream: rosterStream,
    decider: rosterDecider,
    command: { type: 'reserve', change, seats: null },
    context,
    target: rosterTarget,
    lastEventOnly: true,
  });
  return change;
};

test('a change that died between the roster and the account is finished by the next comer: one seat, one account', async () => {
  await settlePending(g.services, context);
  const before = await roster();
  const userId = randomUUID();
  const change = await reserveAndDie('olga', -1, {
    type: 'user.create',
    data: { userId, login: 'olga', name: 'olga', state: 'ACTIVE', isAdmin: false, githubId: null },
  });
  assert.is((await roster()).seatsUsed, before.seatsUsed + 1, 'the seat is taken while the change is pending');
  assert.is((await g.services.store.readStream(accountStream('olga'), 0)).length, 0);
  // the next comer: any account change that moves the roster
  assert.is((await gql('mutation { approveUser(login: "quinn") { state } }')).data!.approveUser.state, 'INACTIVE');
  await g.services.settled();
  const olga = await g.services.store.readStream(accountStream('olga'), 0);
  assert.equal(
    olga.map((e) => e.id),
    [change.events[0]!.id],
    'the very events the dead server decided, once',
  );
  assert.is((await gql('{ user(login: "olga") { state } }')).data!.user.state, 'ACTIVE');
  const after = await roster();
  assert.equal([after.seatsUsed, after.reserved, after.pending.length], [before.seatsUsed + 1, before.reserved + 1, 0]);
  assert.is(after.seatsUsed, await seatsInUse(g.services.db));
});

test('a change the account outran is undone by the next comer: its seat goes back, nothing is written twice', async () => {
  const pia = await g.createUser('pia');
  await gql('mutation { suspendUser(login: "pia") { state } }');
  await settlePending(g.services, context);
  const before = await roster();
  const revision = (await g.services.store.readLast(accountStream('pia')))!.revision;
  await reserveAndDie('pia', revision, { type: 'user.activate', data: { userId: pia.id, login: 'pia' } });
  assert.is((await roster()).seatsUsed, before.seatsUsed + 1);
  // meanwhile pia's account moved on (a change that takes no seat goes straight to the account)
  assert.is((await gql('mutation { grantAdmin(login: "pia") { isAdmin } }')).data!.grantAdmin.isAdmin, true);
  assert.is((await gql('mutation { approveUser(login: "rhea") { state } }')).data!.approveUser.state, 'INACTIVE');
  await g.services.settled();
  const r = await roster();
  assert.is(r.pending.length, 0, 'the next comer settled it');
  assert.is(r.seatsUsed, before.seatsUsed, 'the seat the dead activation took is back');
  assert.is(r.seatsUsed, await seatsInUse(g.services.db));
  assert.is((await gql('{ user(login: "pia") { state } }')).data!.user.state, 'SUSPENDED');
  assert.not.ok(
    (await g.services.store.readStream(accountStream('pia'), 0)).some((e) => e.type === 'user.activate'),
    'the outrun activation never reached the account',
  );
});

const who = (id: number, login: string) => ({ id, login, name: login, orgs: [], teams: [] });

test('one GitHub user signing in from two places at once gets one account', async () => {
  const [a, b] = await Promise.all([signInWithGitHub(g.services, context, who(4001, 'twin')), signInWithGitHub(g.services, context, who(4001, 'twin'))]);
  assert.is(a.userId, b.userId);
  const claims = await g.services.store.readStream(githubUserStream(4001), 0);
  assert.ok(
    claims.every((e) => (e.data as { userId: string }).userId === a.userId),
    'no claim names another account',
  );
  await g.services.settled();
  assert.is((await gql('{ user(login: "twin") { id state } }')).data!.user.id, a.userId);
});

test('a claim whose account was never made (the process died) is finished by the next sign-in, with the id it claimed', async () => {
  const userId = randomUUID();
  const claim = g.services.commands.envelop([{ type: 'github_user.claim', data: { githubId: 4002, userId, login: 'lost' } }], {
    context,
    target: { id: 'github:4002', type: 'github_user' },
  });
  await g.services.store.append(githubUserStream(4002), claim, 'no_stream');
  const account = await signInWithGitHub(g.services, context, who(4002, 'lost'));
  assert.equal([account.userId, account.state, account.githubId], [userId, 'ACTIVE', 4002]);
  // a deleted account's GitHub user signs up anew, and the claim follows
  await gql('mutation { deleteUser(login: "lost") }');
  const again = await signInWithGitHub(g.services, context, who(4002, 'lost'));
  assert.is.not(again.userId, userId);
  const last = (await g.services.store.readLast(githubUserStream(4002)))!;
  assert.is((last.data as { userId: string }).userId, again.userId);
});

test('no command read the roster, the settings or the old accounts stream whole', () => {
  assert.equal(
    readWhole.filter((s) => [rosterStream, settingsStream, 'accounts'].includes(s) || s.startsWith('github-user-')),
    [],
  );
  assert.ok(
    readWhole.some((s) => s.startsWith('account-')),
    'account streams are read (each holds one account)',
  );
});

test.run();

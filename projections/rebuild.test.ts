import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { projectsProjection } from './projects.ts';
import { allProjections } from './all.ts';
import { startTestGyre, waitForAudit, type TestGyre } from '../test/support/gyre.ts';
import { compareWithRebuild } from '../test/support/rebuild-compare.ts';
import { newEvent } from '../test/support/events.ts';

const test = suite('projections/rebuild: read models built again beside the live ones, swapped in while Gyre serves');
let g: TestGyre;

const ok = async (query: string, variables?: Record<string, unknown>) => {
  const r = await g.gql(query, variables);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data!;
};

/** Every index and constraint name of the read models' tables, and the tables themselves. */
const schemaNames = async () => {
  const db = g.services.db;
  const tables = allProjections.flatMap((p) => Object.values(p.tables) as string[]);
  const indexes = (
    await db.raw(`select tablename || '.' || indexname as n from pg_indexes where schemaname = current_schema() and tablename = any(?) order by 1`, [tables])
  ).rows.map((r: { n: string }) => r.n);
  const constraints = (
    await db.raw(`select conrelid::regclass::text || '.' || conname as n from pg_constraint where conrelid::regclass::text = any(?) order by 1`, [tables])
  ).rows.map((r: { n: string }) => r.n);
  const shadows = (
    await db.raw(`select table_name as n from information_schema.tables where table_schema = current_schema() and table_name like 'rebuild\\_%'`)
  ).rows;
  return { indexes, constraints, shadows };
};

const rebuildQuery = 'mutation($names: [String!]) { rebuildProjections(names: $names) { id state done names readModels { name state } } }';

test.before(async () => {
  g = await startTestGyre();
  for (let i = 0; i < 20; i++) await ok(`mutation { createProject(input: {slug: "gh/acme/before-${i}", gitUrl: "/srv/git/b${i}.git"}) { id } }`);
  await ok('mutation { storeProjectEnvVar(slug: "gh/acme/before-1", name: "TOKEN", value: "s3cret-value") { name } }');
  await ok('mutation { createContext(input: {owner: "gh/acme", name: "deploy"}) { id } }');
  await ok('mutation { updateSystemSettings(input: {licenseSeats: 7}) { licenseSeats } }');
  // a log long enough that the rebuild takes a while: exports of the audit log, which only its read model shows
  for (let i = 0; i < 10; i++)
    await g.services.store.append(
      `seed-${i}`,
      Array.from({ length: 1000 }, () => newEvent('audit_log.export', { since: null, until: null, actions: [] })),
      'no_stream',
    );
  assert.ok(await g.services.settled());
});
test.after(async () => g.stop());

test('every read model is rebuilt while mutations keep succeeding, and what they wrote is in the swapped-in tables', async () => {
  const before = await schemaNames();
  let stop = false;
  const written: string[] = [];
  const failures: unknown[] = [];
  // a client keeps creating projects for as long as the rebuild runs
  const traffic = (async () => {
    for (let i = 0; !stop; i++) {
      const slug = `gh/acme/during-${i}`;
      const r = await g.gql(`mutation { createProject(input: {slug: "${slug}", gitUrl: "/srv/git/d${i}.git"}) { slug } }`);
      if (r.body.errors) failures.push(r.body.errors);
      else written.push(slug);
    }
  })();
  // let the traffic get going, so the rebuild starts with appends under way
  while (written.length < 3) await new Promise((r) => setImmediate(r));
  const started = (await ok(rebuildQuery)).rebuildProjections;
  assert.equal(
    started.names,
    allProjections.map((p) => p.name),
  );
  assert.is(started.done, false);
  const writtenAtStart = written.length;
  let writtenDuring: number;
  try {
    await g.services.rebuilds.settled(started.id);
    writtenDuring = written.length - writtenAtStart;
  } finally {
    stop = true;
    await traffic;
  }
  assert.equal(failures, []);
  assert.ok(writtenDuring > 0, 'mutations were answered while the rebuild ran');

  const status = (
    await ok('query($id: ID!) { projectionRebuild(id: $id) { state done error eventsRead readModels { name state eventsApplied swappedAt } } }', {
      id: started.id,
    })
  ).projectionRebuild;
  assert.is(status.state, 'DONE', status.error);
  assert.ok(status.eventsRead > 0);
  assert.ok(status.readModels.every((m: { state: string; swappedAt: string | null }) => m.state === 'SWAPPED' && m.swappedAt));

  assert.ok(await g.services.settled());
  const projects = (await g.services.db(projectsProjection.tables.projects).pluck('slug')) as string[];
  for (const slug of written) assert.ok(projects.includes(slug), `${slug}, created during the rebuild, is in the rebuilt projects table`);
  assert.is(projects.length, 20 + written.length);
  assert.equal(await compareWithRebuild(g.services.db, g.services.store), []);
  // the same indexes and constraints under the same names, and no shadow left behind
  assert.equal(await schemaNames(), before);
  const audited = await waitForAudit(g, (e) => e.action === 'system.projections.rebuild' && e.success === true);
  assert.is(audited[0]!.payload.rebuildId, started.id);
});

test('a second rebuild after the first works, and reads keep answering from the swapped-in tables', async () => {
  const first = (await ok(rebuildQuery, { names: ['projects', 'audit_log'] })).rebuildProjections;
  assert.equal(first.names, ['audit_log', 'projects']);
  await g.services.rebuilds.settled(first.id);
  const second = (await ok(rebuildQuery, { names: ['projects'] })).rebuildProjections;
  await g.services.rebuilds.settled(second.id);
  const status = (await ok('query($id: ID!) { projectionRebuild(id: $id) { state error } }', { id: second.id })).projectionRebuild;
  assert.is(status.state, 'DONE', status.error);
  assert.is((await ok('{ project(slug: "gh/acme/before-1") { slug } }')).project.slug, 'gh/acme/before-1');
  await ok('mutation { createProject(input: {slug: "gh/acme/after", gitUrl: "/srv/git/after.git"}) { id } }');
  assert.is((await ok('{ project(slug: "gh/acme/after") { slug } }')).project.slug, 'gh/acme/after');
  assert.ok(await g.services.settled());
  assert.equal(
    await compareWithRebuild(
      g.services.db,
      g.services.store,
      allProjections.filter((p) => p.name === 'projects' || p.name === 'audit_log'),
    ),
    [],
  );
});

test('an unknown read model is refused, audited, and starts nothing', async () => {
  const db = g.services.db;
  const rebuildsBefore = ((await db('projection_rebuilds').count('* as n')) as Array<{ n: string }>)[0]!.n;
  const r = await g.gql(rebuildQuery, { names: ['projects', 'no_such_model'] });
  assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.match(r.body.errors![0]!.message, /no read model named no_such_model: Gyre keeps audit_log, /);
  const rebuildsAfter = ((await db('projection_rebuilds').count('* as n')) as Array<{ n: string }>)[0]!.n;
  assert.is(Number(rebuildsAfter), Number(rebuildsBefore));
  assert.equal(await db('projection_rebuild_leases').select('*'), []);
  const refused = await waitForAudit(
    g,
    (e) => e.action === 'system.projections.rebuild' && e.success === false && /no read model named no_such_model/.test(String(e.payload.reason)),
  );
  assert.is(refused.length, 1);
});

test('only admins may rebuild or read a rebuild: others are refused, and that is audited', async () => {
  const user = await g.createUser('rita');
  const headers = { authorization: `Bearer ${user.token}` };
  const r = await g.gql(rebuildQuery, {}, headers);
  assert.is(r.status, 403);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  const q = await g.gql('{ projectionRebuild(id: "00000000-0000-4000-8000-000000000000") { id } }', {}, headers);
  assert.is(q.status, 403);
  const refused = await waitForAudit(g, (e) => e.action === 'system.projections.rebuild' && e.success === false && e.actor?.name === 'rita');
  assert.is(refused.length, 1);
});

test('a read model another server is rebuilding: the same request joins it, an overlapping one is refused, an expired lease is taken over', async () => {
  const db = g.services.db;
  const other = '11111111-1111-4111-8111-111111111111';
  await db('projection_rebuilds').insert({
    id: other,
    names: JSON.stringify(['users']),
    state: 'running',
    owner: 'another-server',
    progress: JSON.stringify({ eventsRead: 5, eventsInLog: 10, head: '', readModels: [] }),
  });
  await db('projection_rebuild_leases').insert({
    name: 'users',
    rebuild_id: other,
    owner: 'another-server',
    expires_at: db.raw(`now() + interval '1 minute'`),
  });
  try {
    const joined = (await ok(rebuildQuery, { names: ['users'] })).rebuildProjections;
    assert.is(joined.id, other);
    const refused = await g.gql(rebuildQuery, { names: ['users', 'projects'] });
    assert.is(refused.body.errors?.[0]?.extensions?.code, 'REBUILD_RUNNING');
    assert.match(refused.body.errors![0]!.message, new RegExp(`users is being rebuilt already \\(rebuild ${other}\\)`));
    // the other server stopped renewing its lease: the next request takes the read model over
    await db('projection_rebuild_leases')
      .where({ name: 'users' })
      .update({ expires_at: db.raw(`now() - interval '1 second'`) });
    const taken = (await ok(rebuildQuery, { names: ['users'] })).rebuildProjections;
    assert.is.not(taken.id, other);
    await g.services.rebuilds.settled(taken.id);
    assert.is((await ok('query($id: ID!) { projectionRebuild(id: $id) { state } }', { id: taken.id })).projectionRebuild.state, 'DONE');
  } finally {
    await db('projection_rebuild_leases').where({ rebuild_id: other }).delete();
  }
});

test.run();

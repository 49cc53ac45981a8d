import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { projectsProjection } from '../../projections/projects.ts';
import { startTestGyre, type TestGyre } from './gyre.ts';
import { compareWithRebuild, rebuildVersion } from './rebuild-compare.ts';

const test = suite('test/support/rebuild-compare');
let g: TestGyre;

test.before(async () => {
  g = await startTestGyre();
  for (const query of [
    'mutation { createProject(input: {slug: "gh/acme/one", gitUrl: "/srv/git/one.git"}) { id } }',
    'mutation { createProject(input: {slug: "gh/acme/two", gitUrl: "/srv/git/two.git"}) { id } }',
    'mutation { storeProjectEnvVar(slug: "gh/acme/one", name: "TOKEN", value: "s3cret-value") { name } }',
    'mutation { createContext(input: {owner: "gh/acme", name: "deploy"}) { id } }',
    'mutation { updateSystemSettings(input: {licenseSeats: 7}) { licenseSeats } }',
  ]) {
    const r = await g.gql(query);
    assert.not.ok(r.body.errors, JSON.stringify(r.body.errors));
  }
  assert.ok(await g.services.settled());
});
test.after(async () => g.stop());

const projects = projectsProjection.tables.projects;

test('every read model equals its rebuild, and the rebuilt tables are gone afterwards', async () => {
  assert.equal(await compareWithRebuild(g.services.db, g.services.store), []);
  const left = await g.services.db.raw(`select table_name from information_schema.tables where table_name like ?`, [`%\\_v${rebuildVersion}`]);
  assert.equal(left.rows, []);
});

test('a changed, a missing and an extra row are each named', async () => {
  const db = g.services.db;
  const [one, two] = (await db(projects).orderBy('slug').select('*')) as Array<Record<string, unknown>>;
  try {
    await db(projects).where({ id: one!.id }).update({ name: 'tampered' });
    await db(projects).where({ id: two!.id }).del();
    const differences = await compareWithRebuild(db, g.services.store);
    assert.is(differences.length, 1, differences.join('\n'));
    assert.match(differences[0]!, new RegExp(`^${projects}: 1 of 1 rows only in the live table, first .*"name":"tampered".*; 2 of 2 only in the rebuild`));
  } finally {
    await db(projects).where({ id: one!.id }).update({ name: one!.name });
    await db(projects).insert(two!);
  }
  assert.equal(await compareWithRebuild(db, g.services.store), []);
});

test('a read model that has not caught up with the log is named, not compared as if it had', async () => {
  await g.services.projections.stop();
  await g.services.commands.record(
    'rebuild-compare',
    { type: 'audit_log.export', data: { since: null, until: null, actions: [] } },
    { context: { actor: { id: 't', type: 'system' }, request: null }, target: { id: 'x', type: 'x' } },
  );
  const differences = await compareWithRebuild(g.services.db, g.services.store);
  assert.ok(
    differences.some((d) => /^audit_log v\d+ has 1 events it handles past its checkpoint$/.test(d)),
    differences.join('\n'),
  );
});

test.run();

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rows } from '../adapters/database/sql.ts';
import { pipelineById, workflowById } from '../projections/pipelines.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger, until, workflow } from './support/jobs.ts';

/**
 * Setup workflows: a `setup: true` config's jobs run on the host with CIRCLE_CONTINUATION_KEY, write
 * it where the test reads it (the output masks it), and the test continues the pipeline with it
 * through `POST /api/v2/pipeline/continue`, as CircleCI's continuation orb does.
 */
const test = suite('continuation: a setup workflow continues its pipeline once, with the key alone');
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
let dir: string;
const slug = 'gh/acme/dynamic';
const keys: string[] = [];
/** The pipeline the first test continued. */
let continued = '';

const setupConfig = (d: string) => `
version: 2.1
setup: true
jobs:
  generate:
    machine: true
    steps:
      - run: |
          printf '%s' "$CIRCLE_CONTINUATION_KEY" > ${d}/key-$CIRCLE_PIPELINE_ID
          echo "the key is $CIRCLE_CONTINUATION_KEY"
          while [ ! -f ${d}/go-$CIRCLE_PIPELINE_ID ]; do sleep 0.1; done
workflows:
  setup:
    jobs: [generate]
`;
const continuation = `
version: 2.1
parameters:
  greeting: {type: string, default: none}
jobs:
  build:
    machine: true
    steps:
      - run: echo "<< pipeline.parameters.greeting >> from the continuation"
workflows:
  built:
    jobs: [build]
`;

const keyOf = (pipelineId: string) =>
  until(`the key of pipeline ${pipelineId}`, async () => {
    const f = join(dir, `key-${pipelineId}`);
    const key = existsSync(f) ? readFileSync(f, 'utf8') : '';
    return key.length > 0 ? key : undefined;
  });
const release = (pipelineId: string) => writeFileSync(join(dir, `go-${pipelineId}`), '');
const continueWith = async (key: string, configuration = continuation, parameters: Record<string, unknown> = { greeting: 'hello' }) => {
  const r = await g.app.inject({ method: 'POST', url: '/api/v2/pipeline/continue', payload: { 'continuation-key': key, configuration, parameters } });
  return { status: r.statusCode, body: r.json() as { message: string } };
};
const pipelineJson = async (id: string) => (await g.app.inject({ url: `/api/v2/pipeline/${id}`, headers: { 'circle-token': g.adminToken } })).json();
const workflowsOf = async (id: string) =>
  (await g.app.inject({ url: `/api/v2/pipeline/${id}/workflow`, headers: { 'circle-token': g.adminToken } })).json().items as Array<{
    id: string;
    name: string;
    status: string;
  }>;

test.before(async () => {
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  dir = mkdtempSync(join(tmpdir(), 'gyre-continuation-'));
  repo = gitRepo();
  repo.commit(setupConfig(dir), 'setup');
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await g.stop();
  repo.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('the setup job gets a key; a wrong key is refused and audited; of two racing continues one wins, and its workflows run', async () => {
  const run = await trigger(g, slug);
  assert.is((await pipelineJson(run.id)).state, 'setup');
  continued = run.id;
  const key = await keyOf(run.id);
  keys.push(key);
  assert.match(key, /^[0-9a-f]{64}$/);

  const wrong = await continueWith('0'.repeat(64));
  assert.is(wrong.status, 401);
  assert.match(wrong.body.message, 'continuation-key');
  assert.ok((await waitForAudit(g, (r) => r.action === 'pipeline.continue' && r.success === false)).length >= 1, 'the wrong key is audited');

  const raced = await Promise.all([continueWith(key), continueWith(key)]);
  assert.equal(raced.map((r) => r.status).sort(), [200, 409]);
  assert.is(raced.find((r) => r.status === 409)!.body.message, 'Pipeline is not in setup state.');

  // again, with the setup workflow still running: refused
  const again = await continueWith(key);
  assert.is(again.status, 409);
  assert.is(again.body.message, 'Pipeline is not in setup state.');
  assert.is((await pipelineJson(run.id)).state, 'created');

  // the host runs one machine job at a time: the setup job ends first
  release(run.id);
  const setup = (await workflowsOf(run.id)).find((x) => x.name === 'setup')!;
  assert.is((await finished(g, setup.id)).status, 'success');
  const built = await until('the continuation workflow', async () => (await workflowsOf(run.id)).find((w) => w.name === 'built'));
  const w = await finished(g, built.id);
  assert.is(w.byName.build!.status, 'success');
  assert.equal((await workflowsOf(run.id)).filter((x) => x.name === 'built').length, 1, 'one continuation, one workflow');

  // the setup config stays beside the continuation's, for GET /pipeline/{id}/config's setup-config
  const row = (await pipelineById(g.services.db, run.id))!;
  assert.ok(JSON.parse(row.setupConfig!).setup, 'the setup config is kept');
  assert.ok(JSON.parse(row.config!).workflows.built, 'the continuation is the config');
  const config = (await g.app.inject({ url: `/api/v2/pipeline/${run.id}/config`, headers: { 'circle-token': g.adminToken } })).json();
  assert.match(config['setup-config'], 'setup: true');
  assert.match(config['compiled-setup-config'], 'setup: true');
  assert.match(config.source, 'built');
  assert.not.match(config.source, 'setup: true');
  assert.match(config.compiled, 'built');
});

test('after a continue, a rerun of the setup workflow is refused (409, audited, nothing started); a rerun of the continued workflow runs', async () => {
  const rerun = (id: string) => g.app.inject({ method: 'POST', url: `/api/v2/workflow/${id}/rerun`, headers: { 'circle-token': g.adminToken }, payload: {} });
  const before = await workflowsOf(continued);
  const setup = before.find((w) => w.name === 'setup')!;
  // what refuses it is what the workflow is (the setup config's), recorded on it, not when it started
  assert.is((await workflowById(g.services.db, setup.id))!.setup, true);
  assert.is((await workflowById(g.services.db, before.find((w) => w.name === 'built')!.id))!.setup, false);
  const refused = await rerun(setup.id);
  assert.is(refused.statusCode, 409, refused.body);
  assert.match(refused.json().message, 'setup workflow cannot be rerun after its continuation');
  const audit = await waitForAudit(g, (r) => r.action === 'workflow.retry' && r.success === false);
  assert.is(audit.length, 1);
  assert.match(JSON.stringify(audit[0]!.payload), 'setup workflow');
  assert.equal(
    (await workflowsOf(continued)).map((w) => w.id),
    before.map((w) => w.id),
  );
  const viaGraphql = await g.gql('mutation($w: ID!) { rerunWorkflow(workflowId: $w) { id } }', { w: setup.id });
  assert.is(viaGraphql.body.errors?.[0]?.extensions?.code, 'CONFLICT');

  const built = before.find((w) => w.name === 'built')!;
  const again = await rerun(built.id);
  assert.is(again.statusCode, 202, again.body);
  const w = await finished(g, again.json().workflow_id);
  assert.is(w.name, 'built');
  assert.is(w.byName.build!.status, 'success');
  assert.is((await workflowById(g.services.db, again.json().workflow_id))!.setup, false, 'a rerun of a continued workflow is not a setup one');
  assert.equal((await workflowsOf(continued)).map((x) => x.name).sort(), ['built', 'built', 'setup']);
});

test("a continue after the setup workflow ended is refused with CircleCI's message", async () => {
  const run = await trigger(g, slug);
  const key = await keyOf(run.id);
  keys.push(key);
  release(run.id);
  assert.is((await finished(g, run.workflows[0]!.id)).status, 'success');
  const late = await continueWith(key);
  assert.is(late.status, 409);
  assert.is(late.body.message, 'Continuation key has expired. Please run a new pipeline.');
  assert.is((await workflow(g, run.workflows[0]!.id)).name, 'setup');
  assert.equal(
    (await workflowsOf(run.id)).map((x) => x.name),
    ['setup'],
  );
});

test('no key is in the database (events, read models, job output) or the data directory', async () => {
  const db = g.services.db;
  const texts: Array<{ where: string; text: string }> = [];
  const tables = await rows<{ tablename: string }>(db.raw(`select tablename from pg_tables where schemaname = 'public' order by 1`));
  for (const { tablename } of tables) {
    const dump = await rows<{ row: string }>(db.raw(`select row_to_json(t)::text as row from "${tablename}" t`));
    texts.push({ where: `table ${tablename}`, text: dump.map((r) => r.row).join('\n') });
  }
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  for (const file of walk(g.dataDir)) texts.push({ where: `file ${file}`, text: readFileSync(file).toString('latin1') });
  assert.ok(
    texts.some((t) => t.text.includes('the key is')),
    'the job output was searched',
  );
  assert.is(keys.length, 2);
  const leaks = texts.flatMap((t) => keys.filter((k) => t.text.includes(k)).map(() => t.where));
  assert.equal(leaks, []);
});

test.run();

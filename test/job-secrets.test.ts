import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rows } from '../adapters/database/sql.ts';
import { dockerForTests } from './support/docker.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { ensureTestImage } from './support/images.ts';
import { finished, ok, trigger } from './support/jobs.ts';

/**
 * A job prints its secrets every way it can (whole, split across two writes, from a context) and the
 * output keeps none of them: not the stored output, any read of it, the log, a database row or a file.
 */
const test = suite('job secrets: values reach the job and never its output');
const projectSecret = `proj-${randomBytes(10).toString('hex')}`;
const contextSecret = `ctx-${randomBytes(10).toString('hex')}`;
const logs: string[] = [];
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;

const config = `
version: 2.1
jobs:
  leak:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: echo "project $PROJECT_SECRET context $CONTEXT_SECRET"
      - run: |
          printf '%s' "$PROJECT_SECRET" | cut -c1-8 | tr -d '\\n'
          sleep 0.4
          printf '%s\\n' "$PROJECT_SECRET" | cut -c9-
      - run: printf '%s' "$PROJECT_SECRET$CONTEXT_SECRET" | sha256sum
workflows:
  main:
    jobs: [{leak: {context: [deploy]}}]
`;

test.before(async () => {
  await ensureTestImage(await dockerForTests(), ['cimg/base:stable']);
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOG_LEVEL: 'trace' }, { logStream: { write: (line) => void logs.push(line) } });
  repo = gitRepo();
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

test('a job prints its project and context secrets: the output shows ******** and the job had the values', async () => {
  repo.commit(config);
  await ok(g, `mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "${repo.dir}"}) { id } }`);
  await ok(g, 'mutation($v: String!) { storeProjectEnvVar(slug: "gh/acme/app", name: "PROJECT_SECRET", value: $v) { name } }', { v: projectSecret });
  const ctx = (await ok(g, 'mutation { createContext(input: {owner: "gh/acme", name: "deploy"}) { id } }')).createContext.id;
  await ok(g, 'mutation($id: ID!, $v: String!) { storeContextEnvVar(contextId: $id, name: "CONTEXT_SECRET", value: $v) { name } }', {
    id: ctx,
    v: contextSecret,
  });
  const p = await trigger(g, 'gh/acme/app');
  const w = await finished(g, p.workflows[0]!.id);
  assert.is(w.byName.leak!.status, 'success');
  const accessed = await waitForAudit(g, (e) => e.action === 'context.secrets.accessed' && e.payload.purpose === 'job');
  assert.is(accessed[0]!.payload.jobId, w.byName.leak!.id);

  const job = (await g.app.inject({ url: `/api/v1.1/project/gh/acme/app/${w.byName.leak!.jobNumber}`, headers: { 'circle-token': g.adminToken } })).json();
  const outputs: string[] = [];
  for (const step of job.steps) {
    for (const a of step.actions) {
      if (!a.output_url) continue;
      outputs.push((await g.app.inject({ url: new URL(a.output_url).pathname, headers: { 'circle-token': g.adminToken } })).body);
      outputs.push(
        (
          await g.app.inject({
            url: `/api/private/output/raw/gh/acme/app/${job.build_num}/output/${a.index}/${a.step}`,
            headers: { 'circle-token': g.adminToken },
          })
        ).body,
      );
    }
  }
  const all = outputs.join('\n');
  assert.match(all, 'project ******** context ********');
  assert.ok(all.split('\n').includes('********'), 'the value split across two writes is masked whole');
  assert.match(
    all,
    createHash('sha256')
      .update(projectSecret + contextSecret)
      .digest('hex'),
    'the job had both values',
  );

  const seen: Array<{ where: string; text: string }> = [
    { where: 'output reads', text: all },
    { where: 'log', text: logs.join('') },
  ];
  const db = g.services.db;
  for (const { tablename } of await rows<{ tablename: string }>(db.raw(`select tablename from pg_tables where schemaname = 'public'`))) {
    seen.push({
      where: `table ${tablename}`,
      text: (await rows<{ row: string }>(db.raw(`select row_to_json(t)::text as row from "${tablename}" t`))).map((r) => r.row).join('\n'),
    });
  }
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
  for (const file of walk(g.dataDir)) seen.push({ where: `file ${file}`, text: readFileSync(file).toString('latin1') });
  assert.ok(
    seen.some((s) => s.where.includes('/output/')),
    'the stored output files were searched',
  );
  const leaks = seen.flatMap((s) => [projectSecret, contextSecret].filter((v) => s.text.includes(v)).map(() => s.where));
  assert.equal(leaks, []);
});

test.run();

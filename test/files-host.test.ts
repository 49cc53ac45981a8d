import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { START } from '../adapters/eventstore/port.ts';
import { maskedOutput } from '../domain/secrets/output-mask.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger } from './support/jobs.ts';

/**
 * The file steps of machine jobs, run by the agent inside a real Gyre on the host executor, read back
 * through the interfaces users have. Gyre's data directory is reached through a symlink, so every
 * task's home lies past one (as under macOS's /var): a cache must still go back into it.
 */
const test = suite('files on the host: the file steps of machine jobs');
const real = mkdtempSync(join(tmpdir(), 'gyre-files-host-'));
const linked = join(tmpdir(), `gyre-files-host-link-${randomBytes(6).toString('hex')}`);
/** Outside every home: a cache path the restore puts back under `/`. */
const outside = mkdtempSync(join(tmpdir(), 'gyre-files-host-outside-'));
const repos: Array<ReturnType<typeof gitRepo>> = [];
let g: TestGyre;

test.before(async () => {
  symlinkSync(real, linked);
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true', GYRE_DATA_DIR: linked });
});
test.after(async () => {
  await g?.stop();
  for (const r of repos) r.remove();
  rmSync(linked, { force: true });
  for (const dir of [real, outside]) rmSync(dir, { recursive: true, force: true });
});

/** A project on a fresh repository holding `config`. */
const project = async (name: string, config: string) => {
  const repo = gitRepo();
  repos.push(repo);
  repo.commit(config);
  const slug = `gh/acme/${name}`;
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
  return slug;
};
const pipeline = async (slug: string) => finished(g, (await trigger(g, slug)).workflows[0]!.id, 60_000);

interface StepView {
  index: number;
  name: string;
  status: string;
  reason: string | null;
  output: string;
}
const stepsOf = async (jobId: string): Promise<StepView[]> =>
  (await ok(g, 'query($id: ID!) { job(id: $id) { steps { index name status reason output } } }', { id: jobId })).job.steps;
const stepOf = async (jobId: string, name: string) => {
  const s = (await stepsOf(jobId)).find((x) => x.name === name);
  assert.ok(s, `job ${jobId} has a step ${name}`);
  return s!;
};
const rest = async (url: string) => {
  const r = await g.app.inject({ url, headers: { 'circle-token': g.adminToken } });
  assert.is(r.statusCode, 200, r.body);
  return r;
};

test('store_artifacts: a file, a directory under its destination, and a path where nothing is', async () => {
  const slug = await project(
    'artifacts',
    `
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt && echo one > single.log && ln -s a.txt out/link
      - store_artifacts: {path: single.log}
      - store_artifacts: {path: out, destination: site}
      - store_artifacts: {path: nothing-here}
workflows:
  main: {jobs: [build]}
`,
  );
  const w = await pipeline(slug);
  const build = w.byName.build!;
  assert.is(build.status, 'success');
  const items = (await rest(`/api/v2/project/${slug}/${build.jobNumber}/artifacts`)).json().items as Array<{ path: string; url: string }>;
  assert.equal(items.map((i) => i.path).sort(), ['single.log', 'site/a.txt', 'site/sub/b.txt']);
  const steps = (await stepsOf(build.id)).filter((s) => s.name === 'Uploading artifacts');
  assert.equal(
    steps.map((s) => s.status),
    ['success', 'success', 'success'],
  );
  assert.match(steps[2]!.output, /No artifact files found at \/\S+\/project\/nothing-here/);
  const file = await g.app.inject({ url: new URL(items.find((i) => i.path === 'site/sub/b.txt')!.url).pathname, headers: { 'circle-token': g.adminToken } });
  assert.is(file.body, 'b\n');
});

test('store_test_results: the tests are listed, a malformed report is named, and the job passes', async () => {
  const slug = await project(
    'tests',
    `
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: |
          mkdir -p results/unit
          echo '<testsuite name="s"><testcase name="adds" classname="m"/><testcase name="divides" classname="m"><failure message="expected 2">trace</failure></testcase></testsuite>' > results/unit/junit.xml
          echo '<testsuite><testcase' > results/broken.xml
      - store_test_results: {path: results}
workflows:
  main: {jobs: [build]}
`,
  );
  const build = (await pipeline(slug)).byName.build!;
  assert.is(build.status, 'success');
  const tests = (await rest(`/api/v2/project/${slug}/${build.jobNumber}/tests`)).json().items as Array<{ name: string; result: string; source: string }>;
  assert.equal(tests.map((t) => [t.name, t.result, t.source]).sort(), [
    ['adds', 'success', 'unit'],
    ['divides', 'failure', 'unit'],
  ]);
  const job = (await ok(g, 'query($id: ID!) { job(id: $id) { testCounts { passed failed skipped } testReportProblems { file reason } } }', { id: build.id }))
    .job;
  assert.equal(job.testCounts, { passed: 1, failed: 1, skipped: 0 });
  assert.equal(
    job.testReportProblems.map((p: { file: string }) => p.file),
    ['broken.xml'],
  );
  assert.match((await stepOf(build.id, 'Uploading test results')).output, 'Could not read broken.xml');
});

test("a cache saved by one pipeline is restored by the next into its own task's home, past the symlink, and a path outside home back where it was", async () => {
  const slug = await project(
    'cache',
    `
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo 'left-pad 1.0.0' > lock
      - restore_cache: {keys: ['v1-deps-{{ .Branch }}-{{ checksum "lock" }}', 'v1-deps-']}
      - run:
          name: read cache
          command: |
            echo "home $HOME"
            if [ -f ~/deps/marker ]; then echo "cache made in $(cat ~/deps/marker), outside $(cat ${outside}/kept/file)"; else echo "no cache yet"; fi
      - run: mkdir -p ~/deps ${outside}/kept && echo "$HOME" > ~/deps/marker && echo there > ${outside}/kept/file
      - save_cache: {key: 'v1-deps-{{ .Branch }}-{{ checksum "lock" }}', paths: [~/deps, ${outside}/kept, ~/missing]}
workflows:
  main: {jobs: [build]}
`,
  );
  const first = (await pipeline(slug)).byName.build!;
  assert.is(first.status, 'success');
  const made = await stepOf(first.id, 'read cache');
  assert.match(made.output, 'no cache yet');
  const sum = createHash('sha256').update('left-pad 1.0.0\n').digest('base64');
  assert.match((await stepOf(first.id, 'Restoring cache')).output, `No cache is found for key: v1-deps-main-${sum}`);
  const saved = (await stepOf(first.id, 'Saving cache')).output;
  assert.match(saved, `Stored Cache to v1-deps-main-${sum}`);
  assert.match(saved, /Warning: could not archive \/\S+\/missing - Not found/);
  const firstHome = /home (\S+)/.exec(made.output)![1]!;
  assert.ok(firstHome.startsWith(`${linked}/`), `the task's home ${firstHome} lies past the symlink ${linked}`);
  rmSync(join(outside, 'kept'), { recursive: true, force: true });

  const second = (await pipeline(slug)).byName.build!;
  assert.is(second.status, 'success', JSON.stringify(await stepsOf(second.id)));
  const restored = await stepOf(second.id, 'read cache');
  const secondHome = /home (\S+)/.exec(restored.output)![1]!;
  assert.is.not(secondHome, firstHome, 'each machine task has a home of its own');
  assert.match(restored.output, `cache made in ${firstHome}, outside there`);
  assert.match((await stepOf(second.id, 'Restoring cache')).output, `Found a cache at v1-deps-main-${sum}`);
});

test('a workspace goes down a three-job chain: globs select, later layers win', async () => {
  const slug = await project(
    'workspace',
    `
version: 2.1
jobs:
  make:
    machine: true
    steps:
      - run: mkdir -p ws/js && echo one > ws/a.txt && echo keep > ws/keep.txt && echo drop > ws/drop.log && echo deep > ws/js/x.js
      - persist_to_workspace: {root: ws, paths: ['*.txt', 'js/*.js']}
  middle:
    machine: true
    steps:
      - attach_workspace: {at: ws}
      - run: test "$(cat ws/a.txt)" = one && test ! -e ws/drop.log && echo two > ws/b.txt && echo over > ws/a.txt
      - persist_to_workspace: {root: ws, paths: [a.txt, b.txt]}
  last:
    machine: true
    steps:
      - attach_workspace: {at: ~/ws}
      - run: {name: show workspace, command: 'cat ~/ws/a.txt ~/ws/b.txt ~/ws/keep.txt ~/ws/js/x.js; test ! -e ~/ws/drop.log'}
workflows:
  main:
    jobs: [make, {middle: {requires: [make]}}, {last: {requires: [middle]}}]
`,
  );
  const w = await pipeline(slug);
  assert.equal(Object.fromEntries(w.jobs.map((j) => [j.name, j.status])), { make: 'success', middle: 'success', last: 'success' });
  assert.is((await stepOf(w.byName.last!.id, 'show workspace')).output, 'over\ntwo\nkeep\ndeep\n');
});

test('when: always saves a cache after a failing step; a workspace glob matching nothing, a path out of root and a key naming no file fail their steps', async () => {
  const slug = await project(
    'failing',
    `
version: 2.1
jobs:
  fails:
    machine: true
    steps:
      - run: mkdir -p ~/partial && echo half > ~/partial/file && exit 1
      - save_cache: {key: 'partial-{{ .Revision }}', paths: [~/partial], when: always}
  persists-nothing:
    machine: true
    steps:
      - run: mkdir -p ws && echo a > ws/a.txt
      - persist_to_workspace: {root: ws, paths: [a.txt, '*.none']}
  climbs-out:
    machine: true
    steps:
      - persist_to_workspace: {root: ., paths: [../x]}
  no-checksum:
    machine: true
    steps:
      - save_cache: {key: 'x-{{ checksum "no-such-file" }}', paths: [.]}
workflows:
  main: {jobs: [fails, persists-nothing, climbs-out, no-checksum]}
`,
  );
  const w = await pipeline(slug);
  assert.is(w.byName.fails!.status, 'failed');
  const saved = await stepOf(w.byName.fails!.id, 'Saving cache');
  assert.is(saved.status, 'success', saved.output);
  assert.match(saved.output, /Stored Cache to partial-[0-9a-f]{40}/);
  assert.is(w.byName['persists-nothing']!.status, 'failed');
  const persisted = await stepOf(w.byName['persists-nothing']!.id, 'Persisting to workspace');
  assert.is(persisted.status, 'failed');
  assert.match(persisted.reason!, /The specified paths did not match any files in \/\S+\/ws: \*\.none/);
  assert.match((await stepOf(w.byName['climbs-out']!.id, 'Persisting to workspace')).reason!, 'climbs out of root');
  assert.match((await stepOf(w.byName['no-checksum']!.id, 'Saving cache')).reason!, 'no file no-such-file to checksum');
});

test('a secret in a cache key or a test result reaches none of the events, the tests API, the audit log or the stored files: it is masked', async () => {
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  const slug = await project(
    'secrets',
    `
version: 2.1
jobs:
  saves:
    machine: true
    steps:
      - run: |
          mkdir -p ~/c results
          echo cached > ~/c/file
          cat > results/junit.xml <<XML
          <testsuite name="s-$CANARY"><testcase name="leaks $CANARY" classname="c-$CANARY"><failure message="expected $CANARY">at $CANARY</failure><system-out>printed $CANARY</system-out></testcase></testsuite>
          XML
      - store_test_results: {path: results}
      - save_cache: {key: 'v1-{{ .Environment.CANARY }}-x', paths: [~/c]}
  restores:
    machine: true
    steps:
      - restore_cache: {keys: ['v1-{{ .Environment.CANARY }}-x', 'v1-{{ .Environment.CANARY }}']}
      - run: {name: read cache, command: cat ~/c/file}
workflows:
  main:
    jobs: [saves, {restores: {requires: [saves]}}]
`,
  );
  await ok(g, 'mutation($v: String!) { storeProjectEnvVar(slug: "gh/acme/secrets", name: "CANARY", value: $v) { name } }', { v: canary });
  const w = await pipeline(slug);
  assert.equal(Object.fromEntries(w.jobs.map((j) => [j.name, j.status])), { saves: 'success', restores: 'success' });
  const saves = w.byName.saves!;
  assert.match((await stepOf(saves.id, 'Saving cache')).output, `Stored Cache to v1-${maskedOutput}-x`);
  assert.match((await stepOf(w.byName.restores!.id, 'Restoring cache')).output, `Found a cache at v1-${maskedOutput}-x`);
  assert.is((await stepOf(w.byName.restores!.id, 'read cache')).output, 'cached\n');

  const seen: Array<{ where: string; text: string }> = [];
  await g.services.settled();
  const events: unknown[] = [];
  for (let from = START; ; ) {
    const page = await g.services.store.readAll(from, { limit: 10_000 });
    events.push(...page.events);
    if (!page.events.length) break;
    from = page.next;
  }
  seen.push({ where: 'the event store', text: JSON.stringify(events) });
  const tests = (await rest(`/api/v2/project/${slug}/${saves.jobNumber}/tests`)).body;
  seen.push({ where: 'the tests API', text: tests });
  seen.push({ where: 'the audit CSV', text: (await rest('/admin/audit-log.csv')).body });
  seen.push({
    where: 'the audit log in GraphQL',
    text: JSON.stringify(await ok(g, '{ auditLog(first: 500) { edges { node { action target { id name } payload metadata } } } }')),
  });
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
  for (const file of walk(real)) seen.push({ where: `the file ${file}`, text: readFileSync(file).toString('latin1') });

  assert.equal(
    seen.filter((s) => s.text.includes(canary)).map((s) => s.where),
    [],
  );
  // a control: what was searched holds the key and the results, masked
  const item = (JSON.parse(tests).items as Array<{ name: string; classname: string; message: string }>)[0]!;
  assert.equal([item.name, item.classname], [`leaks ${maskedOutput}`, `c-${maskedOutput}`]);
  assert.match(item.message, `expected ${maskedOutput}`);
  assert.ok(JSON.stringify(events).includes(`v1-${maskedOutput}-x`), 'the events hold the masked key');
});

test.run();

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { START } from '../adapters/eventstore/port.ts';
import { createRetentionSweeper } from '../workers/retention.ts';
import { dockerForTests } from './support/docker.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { ensureTestImage } from './support/images.ts';
import { finished, ok, trigger, until } from './support/jobs.ts';
import { filesystemStore, s3rverStore, type TestObjectStore } from './support/object-stores.ts';

/**
 * Files kept by real jobs in Docker, through the interfaces users have: artifacts fetched at their
 * URLs, test results through API v2 and GraphQL, a cache saved by one pipeline and restored by the
 * next, a workspace passed down a three-job chain. Once on the filesystem store, once on s3rver.
 */
const config = `
version: 2.1
jobs:
  make:
    docker: [{image: cimg/base:stable}]
    steps:
      - checkout
      - run:
          name: make files
          command: |
            mkdir -p out/deep reports/nested
            echo '<html><body><script>document.title="pwned"</script></body></html>' > out/index.html
            printf '\\211PNG\\r\\n\\032\\n\\000\\000\\000\\rIHDR' > out/shot.png
            head -c 300000 /dev/urandom > out/deep/app.bin
            echo 'plain words' > out/notes.txt
            cat > reports/nested/junit.xml <<'XML'
            <?xml version="1.0"?>
            <testsuites>
              <testsuite name="math" file="test/math.test.js">
                <testcase name="adds" classname="math" time="0.25"/>
                <testcase name="divides" classname="math" time="0.5"><failure message="expected 2 got 3">at divide (math.js:3)</failure></testcase>
                <testcase name="later" classname="math"><skipped/></testcase>
              </testsuite>
            </testsuites>
            XML
            echo '<testsuite><testcase' > reports/broken.xml
      - store_artifacts: {path: out, destination: site}
      - store_test_results: {path: reports}
      - restore_cache:
          keys: ['v1-deps-{{ .Branch }}-{{ checksum "deps.txt" }}', 'v1-deps-']
      - run: {name: read cache, command: 'if [ -f ~/deps/marker ]; then echo "cache held $(cat ~/deps/marker) mode $(stat -c %a ~/deps/marker) link $(readlink ~/deps/link)"; else echo "no cache yet"; fi'}
      - run: {name: fill cache, command: 'mkdir -p ~/deps && if [ ! -f ~/deps/marker ]; then echo "from job $CIRCLE_BUILD_NUM" > ~/deps/marker; chmod 750 ~/deps/marker; ln -s marker ~/deps/link; fi'}
      - save_cache:
          key: 'v1-deps-{{ .Branch }}-{{ checksum "deps.txt" }}'
          paths: [~/deps]
      - run: mkdir -p ws && echo one > ws/a.txt && echo keep > ws/keep.txt && echo drop > ws/drop.log
      - persist_to_workspace: {root: ws, paths: ['*.txt']}
  middle:
    docker: [{image: cimg/base:stable}]
    steps:
      - attach_workspace: {at: ws}
      - run: test "$(cat ws/a.txt)" = one && test ! -e ws/drop.log && echo two > ws/b.txt && echo over > ws/a.txt
      - persist_to_workspace: {root: ws, paths: [a.txt, b.txt]}
  last:
    docker: [{image: cimg/base:stable}]
    steps:
      - attach_workspace: {at: /tmp/ws}
      - run: {name: show workspace, command: 'cat /tmp/ws/a.txt /tmp/ws/b.txt /tmp/ws/keep.txt'}
workflows:
  main:
    jobs: [make, {middle: {requires: [make]}}, {last: {requires: [middle]}}]
`;

interface StepView {
  index: number;
  name: string;
  status: string;
  output: string;
}
const stepsOf = async (g: TestGyre, jobId: string): Promise<StepView[]> =>
  (await ok(g, 'query($id: ID!) { job(id: $id) { steps { index name status output } } }', { id: jobId })).job.steps;
const outputOf = async (g: TestGyre, jobId: string, name: string) => {
  const s = (await stepsOf(g, jobId)).find((x) => x.name === name);
  assert.ok(s, `job ${jobId} has a step ${name}`);
  return s!.output;
};

const filesSuite = (store: () => Promise<TestObjectStore>) => {
  let objects: TestObjectStore;
  let g: TestGyre;
  let base = '';
  let repo: ReturnType<typeof gitRepo>;
  const slug = 'gh/acme/files';
  let first: Awaited<ReturnType<typeof finished>>;
  const test = suite('files: artifacts, test results, caches and workspaces of real jobs');

  test.before(async () => {
    await ensureTestImage(await dockerForTests(), ['cimg/base:stable']);
    objects = await store();
    g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', ...objects.env });
    base = await g.app.listen({ port: 0, host: '127.0.0.1' });
    repo = gitRepo();
    writeFileSync(join(repo.dir, 'deps.txt'), 'left-pad 1.0.0\n');
    repo.commit(config, 'first');
    await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
    first = await finished(g, (await trigger(g, slug)).workflows[0]!.id, 120_000);
  });
  test.after(async () => {
    await g?.stop();
    repo?.remove();
    await objects?.stop();
  });

  const api = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers: { 'circle-token': g.adminToken, ...headers } });

  test(`[${store.name}] the three jobs pass`, () => {
    assert.equal(
      Object.fromEntries(first.jobs.map((j) => [j.name, j.status])),
      { make: 'success', middle: 'success', last: 'success' },
      JSON.stringify(first.jobs),
    );
  });

  test(`[${store.name}] artifacts are listed by API v2 and v1.1 under their destination, and each URL serves safe headers`, async () => {
    const make = first.byName.make!;
    const v2 = await (await api(`/api/v2/project/${slug}/${make.jobNumber}/artifacts`)).json();
    const paths = v2.items.map((i: { path: string }) => i.path).sort();
    assert.equal(paths, ['site/deep/app.bin', 'site/index.html', 'site/notes.txt', 'site/shot.png']);
    assert.is(v2.next_page_token, null);
    const v1 = await (await api(`/api/v1.1/project/${slug}/${make.jobNumber}/artifacts`)).json();
    assert.equal(v1.map((i: { pretty_path: string }) => i.pretty_path).sort(), paths);
    const url = (p: string) => v2.items.find((i: { path: string }) => i.path === p).url as string;
    assert.ok(url('site/index.html').startsWith(`${base}/output/job/${make.id}/artifacts/0/`));

    const get = async (p: string, headers: Record<string, string> = {}) => {
      const r = await fetch(url(p), { headers: { 'circle-token': g.adminToken, ...headers } });
      return { r, body: Buffer.from(await r.arrayBuffer()) };
    };
    const html = await get('site/index.html');
    assert.is(html.r.status, 200);
    assert.is(html.r.headers.get('content-type'), 'text/plain');
    assert.is(html.r.headers.get('x-content-type-options'), 'nosniff');
    assert.is(html.r.headers.get('content-security-policy'), 'sandbox');
    assert.match(html.body.toString(), '<script>document.title="pwned"</script>');
    const png = await get('site/shot.png');
    assert.is(png.r.headers.get('content-type'), 'image/png');
    assert.is(png.r.headers.get('content-security-policy'), 'sandbox');
    assert.equal([...png.body.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const bin = await get('site/deep/app.bin');
    assert.is(bin.r.headers.get('content-type'), 'application/octet-stream');
    assert.is(bin.r.headers.get('content-disposition'), 'attachment; filename="app.bin"');
    assert.is(bin.r.headers.get('x-content-type-options'), 'nosniff');
    assert.is(bin.body.length, 300_000);
    const text = await get('site/notes.txt');
    assert.is(text.r.headers.get('content-type'), 'text/plain');
    assert.is(text.body.toString(), 'plain words\n');

    const part = await get('site/deep/app.bin', { range: 'bytes=1000-1999' });
    assert.is(part.r.status, 206);
    assert.is(part.r.headers.get('content-range'), 'bytes 1000-1999/300000');
    assert.equal(part.body, bin.body.subarray(1000, 2000));
    const tail = await get('site/deep/app.bin', { range: 'bytes=-10' });
    assert.equal(tail.body, bin.body.subarray(299_990));
    const past = await get('site/deep/app.bin', { range: 'bytes=300000-' });
    assert.is(past.r.status, 416);
    assert.is(past.r.headers.get('content-range'), 'bytes */300000');

    const head = await fetch(url('site/deep/app.bin'), { method: 'HEAD', headers: { 'circle-token': g.adminToken } });
    assert.equal([head.status, head.headers.get('content-length'), head.headers.get('content-disposition')], [200, '300000', 'attachment; filename="app.bin"']);
    const one = await get('site/deep/app.bin', { range: 'bytes=0-0' });
    assert.equal([one.r.status, one.body.length, one.r.headers.get('content-range')], [206, 1, 'bytes 0-0/300000']);
    // a project named like the routes after a job number is still the project
    const project = await api('/api/v2/project/gh/acme/tests');
    assert.equal([project.status, (await project.json()).message], [404, 'project gh/acme/tests not found: follow it first with createProject']);

    const anonymous = await fetch(url('site/notes.txt'));
    assert.is(anonymous.status, 401);
    const missing = await api(`/output/job/${make.id}/artifacts/0/site/nope.txt`);
    assert.is(missing.status, 404);
  });

  test(`[${store.name}] test results: API v2 lists each test as CircleCI does, GraphQL counts them, a malformed report is named and the job still passes`, async () => {
    const make = first.byName.make!;
    const tests = await (await api(`/api/v2/project/${slug}/${make.jobNumber}/tests`)).json();
    const byName = Object.fromEntries(tests.items.map((t: { name: string }) => [t.name, t]));
    assert.equal(Object.keys(byName).sort(), ['adds', 'divides', 'later']);
    assert.equal(byName.adds, { message: '', source: 'nested', run_time: 0.25, file: 'test/math.test.js', result: 'success', name: 'adds', classname: 'math' });
    assert.is(byName.divides.result, 'failure');
    assert.match(byName.divides.message, 'expected 2 got 3');
    assert.is(byName.later.result, 'skipped');
    const job = (
      await ok(g, 'query($id: ID!) { job(id: $id) { status testCounts { passed failed skipped } testReportProblems { file reason } } }', { id: make.id })
    ).job;
    assert.equal(job.testCounts, { passed: 1, failed: 1, skipped: 1 });
    assert.is(job.status, 'success');
    assert.equal(
      job.testReportProblems.map((p: { file: string }) => p.file),
      ['broken.xml'],
    );
    assert.match(await outputOf(g, make.id, 'Uploading test results'), 'broken.xml');
  });

  test(`[${store.name}] a workspace goes down the chain: each job attaches every upstream layer, a later layer winning`, async () => {
    const out = await outputOf(g, first.byName.last!.id, 'show workspace');
    assert.is(out, 'over\ntwo\nkeep\n');
  });

  test(`[${store.name}] a cache saved by one pipeline is restored by the next, modes and symlinks kept, and never overwritten`, async () => {
    const make1 = first.byName.make!;
    assert.match(await outputOf(g, make1.id, 'read cache'), 'no cache yet');
    const second = await finished(g, (await trigger(g, slug)).workflows[0]!.id, 120_000);
    assert.is(second.status, 'success');
    const make2 = second.byName.make!;
    assert.is((await outputOf(g, make2.id, 'read cache')).trim(), `cache held from job ${make1.jobNumber} mode 750 link marker`);
    assert.match(await outputOf(g, make2.id, 'Saving cache'), 'Skipping cache generation, cache already exists');
    const saves = (await g.services.store.readAll(START, { filter: { types: [{ exact: 'cache.save' }] }, limit: 100 })).events;
    assert.is(saves.length, 1);
  });

  test(`[${store.name}] past the retention periods, a sweep expires every kind: the objects leave the store, and the artifact URL says they expired`, async () => {
    const make = first.byName.make!;
    const artifact = `${base}/output/job/${make.id}/artifacts/0/site/notes.txt`;
    assert.is((await api(new URL(artifact).pathname)).status, 200);
    const sweep = await createRetentionSweeper({
      db: g.services.db,
      commands: g.services.commands,
      log: g.services.log,
      now: () => new Date(Date.now() + 40 * 86_400_000),
    }).sweep();
    assert.ok(sweep.jobs >= 3 && sweep.caches === 1, JSON.stringify(sweep));
    const left = async (prefix: string) => (await g.services.objects.list(prefix, { limit: 10 })).keys;
    for (const job of [make, first.byName.middle!, first.byName.last!]) {
      await until(`the files of ${job.name} to leave the store`, async () => ((await left(`jobs/${job.id}/`)).length === 0 ? true : undefined));
    }
    await until('the cache to leave the store', async () => ((await left('projects/')).length === 0 ? true : undefined));
    const gone = await api(new URL(artifact).pathname);
    assert.is(gone.status, 404);
    assert.is((await gone.json()).code, 'ARTIFACT_EXPIRED');
    const v2 = await (await api(`/api/v2/project/${slug}/${make.jobNumber}/artifacts`)).json();
    assert.equal(v2.items, []);
  });

  return test;
};

filesSuite(filesystemStore).run();
filesSuite(s3rverStore).run();

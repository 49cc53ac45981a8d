// runs on the embedded database only: the bounds of config processing are its subject, in worker threads without the database
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';

// Hostile configs through the real server: each is one bounded error, quickly, and /healthz answers meanwhile.
const test = suite('config processing is bounded and off the event loop (real HTTP)');
let g: TestGyre;
let base: string;
/** A Gyre whose structural limits are lifted, so that only its worker's time limit stops the matrix. */
let lifted: TestGyre;
let liftedBase: string;
let repo: ReturnType<typeof gitRepo>;

test.before(async () => {
  g = await startTestGyre();
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit('version: 2.1\njobs:\n  build:\n    docker: [{image: alpine}]\n    steps: [checkout]\n', 'small');
  // the first fetch of a process loads its HTTP client: not what is measured
  await (await fetch(`${base}/healthz`)).text();
  await g.gql(`mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await (lifted ?? g).stop();
  repo.remove();
});

/**
 * The slowest /healthz answer allowed while a config is processed: typically 40–100 ms on 2 cores,
 * with rare spikes to 300–500 ms while a worker thread runs flat out beside the server (its garbage
 * collection shares V8's helper threads); processing on the event loop would hold it for seconds.
 */
const healthzBound = 600;

/**
 * How much the server's process (this one, its worker threads included) may grow while a hostile
 * config is processed: a worker's heap is bounded at 256 MB; before the limits these took 1.6–3 GB.
 */
const grownBoundMb = 500;

/** Runs `work` while /healthz is asked again and again: how long `work` took, the slowest /healthz answer meanwhile, and how far the process grew. */
const probing = async <T>(at: string, work: () => Promise<T>) => {
  let done = false;
  let slowest = 0;
  let probes = 0;
  const rss = process.memoryUsage().rss;
  let peak = rss;
  const probe = (async () => {
    while (!done) {
      peak = Math.max(peak, process.memoryUsage().rss);
      const t = performance.now();
      const r = await fetch(`${at}/healthz`);
      await r.text();
      assert.is(r.status, 200);
      slowest = Math.max(slowest, performance.now() - t);
      probes++;
    }
  })();
  const t0 = performance.now();
  const result = await work().finally(() => {
    done = true;
  });
  const took = performance.now() - t0;
  await probe;
  return { result, took, slowest, probes, grownMb: (Math.max(peak, process.memoryUsage().rss) - rss) / 1024 / 1024 };
};

const compile = async (at: string, token: string, configYaml: string) => {
  const res = await fetch(`${at}/api/v2/compile-config-with-defaults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'circle-token': token },
    body: JSON.stringify({ config_yaml: configYaml }),
  });
  const text = await res.text();
  return { status: res.status, size: text.length, body: JSON.parse(text) as { valid: boolean; output_yaml: string; errors: Array<{ message: string }> } };
};

/** 5 parameters of 10 values: 100,000 jobs from 630 bytes. */
const matrixConfig = `version: 2.1
jobs:
  test:
    parameters:
      a: {type: string}
      b: {type: string}
      c: {type: string}
      d: {type: string}
      e: {type: string}
    docker: [{image: alpine}]
    steps:
      - run: echo << parameters.a >> << parameters.b >> << parameters.c >> << parameters.d >> << parameters.e >>
workflows:
  all:
    jobs:
      - test:
          matrix:
            parameters:
              a: [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9]
              b: [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9]
              c: [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]
              d: [d0, d1, d2, d3, d4, d5, d6, d7, d8, d9]
              e: [e0, e1, e2, e3, e4, e5, e6, e7, e8, e9]
`;

/** One 20 KB string parameter in each of 10⁴ steps (commands calling commands ten times each): 200 MB processed. */
const bigStringConfig = `version: 2.1
parameters:
  big: {type: string, default: "${'x'.repeat(20_000)}"}
commands:
  c1: {steps: [${Array.from({ length: 10 }, () => 'run: "echo << pipeline.parameters.big >>"').join(', ')}]}
  c2: {steps: [c1, c1, c1, c1, c1, c1, c1, c1, c1, c1]}
  c3: {steps: [c2, c2, c2, c2, c2, c2, c2, c2, c2, c2]}
  c4: {steps: [c3, c3, c3, c3, c3, c3, c3, c3, c3, c3]}
jobs:
  build:
    docker: [{image: alpine}]
    steps: [c4]
workflows:
  main: {jobs: [build]}
`;

test('the compile endpoint takes a config up to the size limit (3 MB), and refuses a larger one by that limit, not by its body', async () => {
  const sized = (bytes: number) => {
    const head = 'version: 2.1\njobs:\n  build:\n    docker: [{image: alpine}]\n    steps: [{run: "true"}]\nworkflows:\n  main: {jobs: [build]}\n';
    return `${head}# ${'x'.repeat(bytes - head.length - 3)}\n`;
  };
  const within = await compile(base, g.adminToken, sized(2 * 1024 * 1024));
  assert.is(within.status, 200, JSON.stringify(within.body).slice(0, 300));
  assert.is(within.body.valid, true);
  const over = await compile(base, g.adminToken, sized(4 * 1024 * 1024));
  assert.is(over.status, 400);
  assert.match(JSON.stringify(over.body), /more than 3 MB \(the limit of a config's size\)/);
});

test('a matrix of 100,000 combinations is refused by the limit of matrix combinations, before any job is made', async () => {
  const { result, took, slowest, grownMb } = await probing(base, () => compile(base, g.adminToken, matrixConfig));
  assert.is(result.status, 200);
  assert.is(result.body.valid, false);
  assert.is(result.body.errors.length, 1);
  assert.match(result.body.errors[0]!.message, 'the matrix makes 100000 jobs, more than 1000 (the limit of matrix combinations)');
  assert.ok(result.size < 10_000, `answer of ${result.size} bytes`);
  assert.ok(took < 5_000, `took ${took} ms`);
  assert.ok(slowest < healthzBound, `/healthz took ${slowest} ms`);
  assert.ok(grownMb < grownBoundMb, `the process grew ${grownMb} MB`);
});

test('a large string parameter in 10⁴ steps is refused by the limit of the processed size, not written out', async () => {
  assert.ok(bigStringConfig.length < 21_000);
  const { result, took, slowest, grownMb } = await probing(base, () => compile(base, g.adminToken, bigStringConfig));
  assert.is(result.body.valid, false);
  assert.is(result.body.errors.length, 1);
  assert.match(result.body.errors[0]!.message, "the processed config is larger than 8 MB (the limit of a processed config's size)");
  assert.is(result.body.output_yaml, '');
  assert.ok(result.size < 100_000, `answer of ${result.size} bytes`);
  assert.ok(took < 5_000, `took ${took} ms`);
  assert.ok(slowest < healthzBound, `/healthz took ${slowest} ms`);
  assert.ok(grownMb < grownBoundMb, `the process grew ${grownMb} MB`);
});

test('a 15 MB config on a branch is refused by the size limit before it is processed, and no pipeline is recorded', async () => {
  repo.git('checkout', '--quiet', '-b', 'huge');
  const huge = `version: 2.1\n# ${'y'.repeat(15 * 1024 * 1024)}\njobs:\n  build:\n    docker: [{image: alpine}]\n    steps: [checkout]\n`;
  repo.commit(huge, 'huge');
  repo.git('checkout', '--quiet', 'main');
  const head = await g.services.store.head();
  const { result, took, slowest, grownMb } = await probing(base, async () => {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${g.adminToken}` },
      body: JSON.stringify({ query: 'mutation { triggerPipeline(input: {projectSlug: "gh/acme/app", branch: "huge"}) { id } }' }),
    });
    const text = await res.text();
    return { size: text.length, body: JSON.parse(text) as { data: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> } };
  });
  assert.equal(
    result.body.errors?.map((e) => [e.extensions?.code, e.message]),
    [['BAD_USER_INPUT', "the config is 15 MB, more than 3 MB (the limit of a config's size): make it smaller"]],
  );
  assert.ok(result.size < 10_000, `answer of ${result.size} bytes`);
  assert.ok(took < 10_000, `took ${took} ms`);
  assert.ok(slowest < healthzBound, `/healthz took ${slowest} ms`);
  assert.ok(grownMb < grownBoundMb, `the process grew ${grownMb} MB`);
  await g.services.settled();
  const appended = (await g.services.store.readAll(head, { limit: 100 })).events;
  assert.equal(
    appended.map((e) => [e.type, e.metadata.success]),
    [['pipeline.create', false]],
  );
  assert.is((await g.gql('{ pipelines(projectSlug: "gh/acme/app") { edges { node { id } } } }')).body.data?.pipelines.edges.length, 0);
});

test('with the structural limits lifted, the worker time limit stops the matrix and the event loop never waits for it', async () => {
  // one Gyre at a time on the test database
  await g.stop();
  lifted = await startTestGyre({
    GYRE_CONFIG_MAX_MATRIX_COMBINATIONS: '1000000',
    GYRE_CONFIG_MAX_WORKFLOW_JOBS: '1000000',
    GYRE_CONFIG_MAX_STEPS: '10000000',
    GYRE_CONFIG_PROCESSING_TIMEOUT_MS: '1500',
    GYRE_CONFIG_PROCESSING_QUEUE: '2',
    GYRE_CONFIG_PROCESSING_THREADS: '2',
  });
  liftedBase = await lifted.app.listen({ port: 0, host: '127.0.0.1' });
  await (await fetch(`${liftedBase}/healthz`)).text();
  const { result, took, slowest, probes } = await probing(liftedBase, () => compile(liftedBase, lifted.adminToken, matrixConfig));
  assert.is(result.body.valid, false);
  assert.equal(
    result.body.errors.map((e) => e.message),
    ['.circleci/config.yml: processing the config took more than 1.5 s (the limit of config processing time)'],
  );
  assert.ok(result.size < 10_000, `answer of ${result.size} bytes`);
  assert.ok(took < 5_000, `took ${took} ms`);
  assert.ok(probes > 5, `${probes} probes`);
  assert.ok(slowest < healthzBound, `/healthz took ${slowest} ms`);
  // the next config is served by a fresh worker
  const next = await compile(liftedBase, lifted.adminToken, 'version: 2.1\njobs:\n  build:\n    docker: [{image: alpine}]\n    steps: [checkout]\n');
  assert.is(next.body.valid, true, JSON.stringify(next.body.errors));
  // a config that waits for a thread behind slow ones has its whole time limit once a thread takes it
  const small = 'version: 2.1\njobs:\n  build:\n    docker: [{image: alpine}]\n    steps: [checkout]\n';
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(check(), what);
  };
  const slow = [compile(liftedBase, lifted.adminToken, matrixConfig), compile(liftedBase, lifted.adminToken, matrixConfig)];
  await until('both slow configs hold a thread', () => lifted.services.configs.load().running === 2);
  const waited = compile(liftedBase, lifted.adminToken, small);
  await until('the small config waits for a thread', () => lifted.services.configs.load().waiting === 1);
  const behind = await Promise.all([...slow, waited]);
  assert.equal(
    behind.slice(0, 2).map((r) => r.body.valid),
    [false, false],
  );
  assert.is(behind[2]!.body.valid, true, JSON.stringify(behind[2]!.body.errors));
  // a flood: what no thread or place in the queue takes is refused at once, 503, rather than waiting without end
  const flood = await Promise.all(Array.from({ length: 20 }, () => compile(liftedBase, lifted.adminToken, matrixConfig)));
  const busy = flood.filter((r) => r.status === 503);
  assert.ok(busy.length >= 16 && busy.length < 20, `${busy.length} of 20 refused busy (2 threads, 2 waiting)`);
  assert.match(JSON.stringify(busy[0]!.body), /CONFIG_PROCESSING_BUSY/);
  assert.ok(
    flood.filter((r) => r.status !== 503).every((r) => r.body.valid === false),
    'the others each one bounded error',
  );
});

test('with the size limit lifted, the worker memory limit stops a config that would write 200 MB', async () => {
  await lifted.stop();
  lifted = await startTestGyre({
    GYRE_CONFIG_MAX_PROCESSED_BYTES: String(256 * 1024 * 1024),
    GYRE_CONFIG_PROCESSING_MEMORY_MB: '64',
    GYRE_CONFIG_PROCESSING_TIMEOUT_MS: '60000',
  });
  liftedBase = await lifted.app.listen({ port: 0, host: '127.0.0.1' });
  await (await fetch(`${liftedBase}/healthz`)).text();
  const { result, took, slowest } = await probing(liftedBase, () => compile(liftedBase, lifted.adminToken, bigStringConfig));
  assert.equal(
    result.body.errors.map((e) => e.message),
    ['.circleci/config.yml: processing the config needed more than 64 MB (the limit of config processing memory)'],
  );
  assert.ok(result.size < 100_000, `answer of ${result.size} bytes`);
  assert.ok(took < 30_000, `took ${took} ms`);
  assert.ok(slowest < healthzBound, `/healthz took ${slowest} ms`);
});

test.run();

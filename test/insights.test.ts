import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger } from './support/jobs.ts';

/**
 * CircleCI's Insights over pipelines a real Gyre ran on the host: one commit built three times, a
 * test that fails on odd runs and passes on even ones (so it is flaky) and a job that fails with it;
 * the numbers are checked against the runs' own times.
 */
const test = suite("insights: workflow and job metrics, a workflow's runs, flaky tests");
let g: TestGyre;
const repos: Array<ReturnType<typeof gitRepo>> = [];
const state = mkdtempSync(join(tmpdir(), 'gyre-insights-'));
const slug = 'gh/acme/insightful';
const manySlug = 'gh/acme/many';

const config = `
version: 2.1
jobs:
  unit:
    machine: true
    steps:
      - run: |
          n=$(cat ${state}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${state}/count
          mkdir -p results/rspec
          if [ $((n % 2)) = 1 ]; then flip='<failure message="flaked">boom</failure>'; else flip=''; fi
          echo "<testsuite name=\\"s\\"><testcase name=\\"steady\\" classname=\\"m\\" time=\\"0.5\\"/><testcase name=\\"flips\\" classname=\\"m\\" file=\\"spec/m_spec.rb\\" time=\\"1.25\\">$flip</testcase></testsuite>" > results/rspec/junit.xml
      - store_test_results: {path: results}
      - run: test $(( $(cat ${state}/count) % 2 )) = 0
  lint:
    machine: true
    steps:
      - run: sleep 1
workflows:
  build:
    jobs: [unit, lint]
`;

const get = async (url: string, token = g.adminToken) => g.app.inject({ url, headers: { 'circle-token': token } });
const json = async (url: string) => {
  const r = await get(url);
  assert.is(r.statusCode, 200, `${url}: ${r.body}`);
  return r.json();
};
const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;

interface Run {
  id: string;
  status: string;
  created_at: string;
  stopped_at: string;
}
const runs: Run[] = [];
let featureRun: Run;

test.before(async () => {
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  const repo = gitRepo();
  repos.push(repo);
  repo.commit(config);
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
  for (let i = 0; i < 3; i++) {
    const w = await finished(g, (await trigger(g, slug)).workflows[0]!.id);
    runs.push(await json(`/api/v2/workflow/${w.id}`));
  }
  // a fourth run, on another branch: outside the default branch's numbers
  repo.git('checkout', '--quiet', '-b', 'feature');
  repo.commit(config);
  const p = (await ok(g, `mutation { triggerPipeline(input: {projectSlug: "${slug}", branch: "feature"}) { workflows { id } } }`)).triggerPipeline;
  featureRun = await json(`/api/v2/workflow/${(await finished(g, p.workflows[0].id)).id}`);
  assert.equal(
    runs.map((r) => r.status),
    ['failed', 'success', 'failed'],
  );
  assert.is(featureRun.status, 'success');
});
test.after(async () => {
  await g?.stop();
  for (const r of repos) r.remove();
  rmSync(state, { recursive: true, force: true });
});

test('workflow metrics on the default branch: runs, success rate, recoveries and durations within the measured ones', async () => {
  const body = await json(`/api/v2/insights/${slug}/workflows?reporting-window=last-7-days`);
  assert.is(body.next_page_token, null);
  assert.is(body.items.length, 1);
  const [build] = body.items;
  assert.is(build.name, 'build');
  assert.ok(build.project_id);
  assert.ok(Date.parse(build.window_end) - Date.parse(build.window_start) === 7 * 86_400_000, `${build.window_start} to ${build.window_end}`);
  const m = build.metrics;
  assert.equal([m.total_runs, m.successful_runs, m.failed_runs, m.total_recoveries, m.total_credits_used], [3, 1, 2, 1, 0]);
  assert.ok(Math.abs(m.success_rate - 1 / 3) < 1e-9, String(m.success_rate));
  assert.ok(Math.abs(m.throughput - 3 / 7) < 1e-9, String(m.throughput));
  const success = seconds(runs[1]!.created_at, runs[1]!.stopped_at);
  const d = m.duration_metrics;
  for (const k of ['min', 'mean', 'median', 'p95', 'max'] as const) assert.ok(Math.abs(d[k] - success) <= 1, `${k} ${d[k]} vs the success's ${success}`);
  assert.is(d.standard_deviation, 0);
  const recovery = seconds(runs[0]!.stopped_at, runs[1]!.stopped_at);
  assert.ok(Math.abs(m.mttr - recovery) <= 1, `mttr ${m.mttr} vs ${recovery}`);

  const all = await json(`/api/v2/insights/${slug}/workflows?all-branches=true`);
  assert.equal([all.items[0].metrics.total_runs, all.items[0].metrics.successful_runs], [4, 2]);
  const feature = await json(`/api/v2/insights/${slug}/workflows?branch=feature`);
  assert.equal([feature.items[0].metrics.total_runs, feature.items[0].metrics.failed_runs, feature.items[0].metrics.success_rate], [1, 0, 1]);
  assert.equal((await json(`/api/v2/insights/${slug}/workflows?branch=nowhere`)).items, []);
});

test('job metrics per job name of the workflow', async () => {
  const body = await json(`/api/v2/insights/${slug}/workflows/build/jobs`);
  assert.equal(
    body.items.map((j: { name: string }) => j.name),
    ['lint', 'unit'],
  );
  const [lint, unit] = body.items;
  assert.equal([unit.metrics.total_runs, unit.metrics.successful_runs, unit.metrics.failed_runs, unit.metrics.total_credits_used], [3, 1, 2, 0]);
  assert.equal([lint.metrics.total_runs, lint.metrics.successful_runs, lint.metrics.success_rate], [3, 3, 1]);
  assert.ok(lint.metrics.duration_metrics.min >= 1, JSON.stringify(lint.metrics.duration_metrics));
  assert.ok(lint.metrics.duration_metrics.max <= Math.max(...runs.map((r) => seconds(r.created_at, r.stopped_at))) + 1);
  assert.ok(unit.window_start && unit.window_end);
  assert.equal((await json(`/api/v2/insights/${slug}/workflows/nothing-of-that-name/jobs`)).items, []);
});

test("a workflow's runs, newest first, a page at a time, within start-date and end-date", async () => {
  const body = await json(`/api/v2/insights/${slug}/workflows/build`);
  assert.equal(
    body.items.map((r: { id: string }) => r.id),
    runs.map((r) => r.id).reverse(),
  );
  const [last] = body.items;
  assert.equal(
    { ...last, duration: undefined },
    {
      id: runs[2]!.id,
      branch: 'main',
      duration: undefined,
      created_at: runs[2]!.created_at,
      stopped_at: runs[2]!.stopped_at,
      credits_used: 0,
      status: 'failed',
      is_approval: false,
    },
  );
  assert.ok(Math.abs(last.duration - seconds(runs[2]!.created_at, runs[2]!.stopped_at)) <= 1);
  assert.equal(
    (await json(`/api/v2/insights/${slug}/workflows/build?branch=feature`)).items.map((r: { id: string }) => r.id),
    [featureRun.id],
  );
  assert.is((await json(`/api/v2/insights/${slug}/workflows/build?all-branches=true`)).items.length, 4);
  const before = new Date(Date.parse(runs[0]!.created_at) - 60_000).toISOString();
  assert.equal((await json(`/api/v2/insights/${slug}/workflows/build?end-date=${before}`)).items, []);
  const since = runs[1]!.created_at;
  assert.equal(
    (await json(`/api/v2/insights/${slug}/workflows/build?start-date=${since}`)).items.map((r: { id: string }) => r.id),
    [runs[2]!.id, runs[1]!.id],
  );
});

test('flaky tests: the test that failed and passed on one commit, with its failures counted', async () => {
  const body = await json(`/api/v2/insights/${slug}/flaky-tests`);
  assert.is(body.total_flaky_tests, 1);
  const [flaky] = body.flaky_tests;
  const jobs = await json(`/api/v2/workflow/${runs[2]!.id}/job`);
  const unit = jobs.items.find((j: { name: string }) => j.name === 'unit');
  assert.equal(flaky, {
    time_wasted: 2.5,
    workflow_created_at: runs[2]!.created_at,
    workflow_id: runs[2]!.id,
    classname: 'm',
    pipeline_number: 3,
    workflow_name: 'build',
    test_name: 'flips',
    job_name: 'unit',
    job_number: unit.job_number,
    times_flaked: 2,
    source: 'rspec',
    file: 'spec/m_spec.rb',
  });
});

test('paging: more workflow names than a page, each listed once', async () => {
  const repo = gitRepo();
  repos.push(repo);
  const names = Array.from({ length: 23 }, (_, i) => `w${String(i).padStart(2, '0')}`);
  repo.commit(`
version: 2.1
jobs:
  ok:
    machine: true
    steps: [{run: 'true'}]
workflows:
${names.map((n) => `  ${n}: {jobs: [ok]}`).join('\n')}
`);
  await ok(g, `mutation { createProject(input: {slug: "${manySlug}", gitUrl: "${repo.dir}"}) { id } }`);
  const p = await trigger(g, manySlug);
  for (const w of p.workflows) await finished(g, w.id);
  const first = await json(`/api/v2/insights/${manySlug}/workflows`);
  assert.is(first.items.length, 20);
  assert.type(first.next_page_token, 'string');
  const second = await json(`/api/v2/insights/${manySlug}/workflows?page-token=${first.next_page_token}`);
  assert.is(second.next_page_token, null);
  assert.equal(
    [...first.items, ...second.items].map((i: { name: string }) => i.name),
    names,
  );
  for (const i of [...first.items, ...second.items]) assert.equal([i.metrics.total_runs, i.metrics.success_rate], [1, 1]);
});

test('bad parameters are 400 and an unknown project 404, each with a message', async () => {
  for (const url of [
    `/api/v2/insights/${slug}/workflows?reporting-window=last-year`,
    `/api/v2/insights/${slug}/workflows?all-branches=maybe`,
    `/api/v2/insights/${slug}/workflows?branch=main&all-branches=true`,
    `/api/v2/insights/${slug}/workflows?page-token=not-ours!`,
    `/api/v2/insights/${slug}/workflows/build?start-date=yesterday`,
    `/api/v2/insights/${slug}/workflows/build?start-date=2020-01-01T00:00:00Z&end-date=2021-01-01T00:00:00Z`,
    `/api/v2/insights/${slug}/workflows/build?start-date=2021-01-02&end-date=2021-01-01`,
    `/api/v2/insights/${slug}/workflows/build/jobs?reporting-window=forever`,
  ]) {
    const r = await get(url);
    assert.is(r.statusCode, 400, `${url}: ${r.body}`);
    assert.type(r.json().message, 'string');
  }
  for (const url of [
    `/api/v2/insights/gh/acme/nope/workflows`,
    `/api/v2/insights/gh/acme/nope/workflows/build`,
    `/api/v2/insights/gh/acme/nope/workflows/build/jobs`,
    `/api/v2/insights/gh/acme/nope/flaky-tests`,
  ]) {
    const r = await get(url);
    assert.is(r.statusCode, 404, `${url}: ${r.body}`);
    assert.match(r.json().message, 'gh/acme/nope');
  }
  const anonymous = await g.app.inject({ url: `/api/v2/insights/${slug}/flaky-tests` });
  assert.is(anonymous.statusCode, 401);
  // whoever may read the project may read its insights
  const reader = await g.createUser('reader');
  assert.is((await get(`/api/v2/insights/${slug}/workflows`, reader.token)).statusCode, 200);
  assert.is((await get(`/api/v2/insights/${encodeURIComponent(slug)}/flaky-tests`, reader.token)).json().total_flaky_tests, 1);
});

test.run();

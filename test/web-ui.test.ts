// runs on the embedded database only: the browser and the UI's pages are its subject; the same GraphQL answers are tested on PostgreSQL by the API suites
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { launchBrowser, screenshot, watchedPage } from './support/browser.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { ok, trigger, until } from './support/jobs.ts';

/**
 * The web UI in a real browser (Debian's chromium through playwright-core), on a whole Gyre started
 * as a user starts it, its local agent running real jobs on this host: signing in with a token,
 * watching jobs turn green live, reading output, approving a hold, suspending a user, the audit
 * log's live tail and its CSV. Each test also holds the page to no console errors.
 */
const test = suite('web UI: Gyre in a browser');
const slug = 'gh/acme/web';
let g: TestGyre;
let base = '';
let browser: Browser;
let repo: ReturnType<typeof gitRepo>;
let signals = '';
let page: Page;
let errors: string[] = [];

const config = (signalDir: string) => `
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Build
          command: |
            printf '\\033[32mcompiled ok\\033[0m\\n'
            for i in $(seq 1200); do test -f ${signalDir}/go && break; sleep 0.05; done
            echo built
  deploy:
    machine: true
    steps:
      - run: {name: Deploy, command: echo deployed}
workflows:
  main:
    jobs:
      - build
      - hold: {type: approval, requires: [build]}
      - deploy: {requires: [hold]}
`;

test.before(async () => {
  signals = mkdtempSync(join(tmpdir(), 'gyre-web-'));
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit(config(signals));
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
  browser = await launchBrowser();
  ({ page, errors } = await watchedPage(browser, base));
});
test.after(async () => {
  await browser?.close();
  await g?.stop();
  repo?.remove();
  rmSync(signals, { recursive: true, force: true });
});

const noConsoleErrors = () => assert.equal(errors.splice(0), [], 'the browser console stayed clean');

test('signing in with an API token opens the projects, and pages an account may not see say so', async () => {
  await page.goto('/projects');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await screenshot(page, 'sign-in');
  await page.getByLabel('API token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  await page.getByLabel('API token').fill(g.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  await page.getByRole('link', { name: slug, exact: true }).waitFor();
  for (const name of ['Projects', 'Users', 'Audit log', 'Settings']) await page.getByRole('navigation').getByRole('link', { name }).waitFor();
  await screenshot(page, 'projects');
  // the refused token's 401 is the only thing the console shows
  assert.equal(
    errors.splice(0).filter((e) => !e.includes('status of 401')),
    [],
  );

  const bob = await g.createUser('bob');
  const { page: bobs, errors: bobErrors } = await watchedPage(browser, base);
  // a page opened while signed out asks for a sign-in first, then opens: from the keyboard alone
  await bobs.goto('/admin/users');
  await bobs.getByRole('heading', { name: 'Sign in' }).waitFor();
  await bobs.getByLabel('API token').focus();
  await bobs.keyboard.type(bob.token);
  await bobs.keyboard.press('Enter');
  await bobs.getByText('Your account is not allowed to see this page.').waitFor();
  assert.match(bobs.url(), '/admin/users');
  assert.is(await bobs.getByRole('navigation').getByRole('link', { name: 'Users' }).count(), 0, 'no link to what bob may not see');
  await bobs.getByRole('navigation').getByRole('link', { name: 'Projects' }).click();
  await bobs.getByRole('heading', { name: 'Projects' }).waitFor();
  await bobs.getByRole('button', { name: 'Sign out' }).click();
  await bobs.getByRole('heading', { name: 'Sign in' }).waitFor();
  await bobs.context().close();
  assert.equal(bobErrors, []);
});

let workflowId = '';
let buildNumber = 0;
test('a workflow page shows its jobs turn green live as a real job runs, and Approve releases the hold', async () => {
  const p = await trigger(g, slug);
  workflowId = p.workflows[0]!.id;
  buildNumber = p.workflows[0]!.jobs.find((j) => j.name === 'build')!.jobNumber!;
  await page.goto(`/pipelines/${slug}/${p.number}/workflows/${workflowId}`);
  const build = page.getByRole('link', { name: /^build/ });
  await build.filter({ hasText: 'running' }).waitFor({ timeout: 30_000 });
  // the job ends only now, while the page watches: no reload
  writeFileSync(join(signals, 'go'), '');
  await build.filter({ hasText: 'success' }).waitFor({ timeout: 30_000 });
  await page.getByRole('link', { name: /^hold/ }).filter({ hasText: 'on hold' }).waitFor();
  await screenshot(page, 'workflow');
  await page.getByRole('button', { name: /^Approve/ }).click();
  await page
    .getByRole('link', { name: /^deploy/ })
    .filter({ hasText: 'success' })
    .waitFor({ timeout: 30_000 });
  noConsoleErrors();
});

test("a job page shows each step's output, ANSI colours rendered, searchable", async () => {
  await page.goto(`/pipelines/${slug}/1/workflows/${workflowId}/jobs/${buildNumber}`);
  const output = page.getByRole('region', { name: 'Output of Build' });
  await output.getByText('compiled ok').waitFor();
  await output.getByText('built').waitFor();
  assert.not.match((await output.textContent()) ?? '', '[32m', 'escape codes are rendered, not shown');
  await page.getByRole('searchbox', { name: 'Search in output' }).first().fill('compiled');
  await page
    .getByText(/1 of 1|1 match/)
    .first()
    .waitFor();
  await screenshot(page, 'job');
  noConsoleErrors();
});

test("Suspend on the users page locks the user's token out", async () => {
  const carol = await g.createUser('carol');
  const asCarol = () => fetch(`${base}/api/v2/me`, { headers: { 'circle-token': carol.token } });
  assert.is((await asCarol()).status, 200);
  await page.goto('/admin/users');
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await page.getByRole('button', { name: 'Suspend carol' }).click();
  await page.getByText('carol suspended: their sessions and tokens stop working.').waitFor();
  assert.is((await asCarol()).status, 401);
  await screenshot(page, 'users');
  noConsoleErrors();
});

test('the audit log tails live, and Download CSV downloads it', async () => {
  await page.goto('/admin/audit-log');
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  await page.getByRole('checkbox', { name: 'Live tail' }).check();
  await page.getByText('Following: new events matching the filters appear here as they happen.').waitFor();
  // the subscription attaches a moment after the box is ticked: a change is made again until one shows
  const tail = page.getByRole('list', { name: 'Live tail' });
  const deadline = Date.now() + 15_000;
  for (let n = 0; (await tail.locator('li[data-action="user.api_token.create"]').count()) === 0; n++) {
    if (Date.now() > deadline) assert.unreachable('no event reached the live tail in 15 s');
    await ok(g, `mutation { createApiToken(label: "seen live ${n}") { token } }`);
    await tail
      .locator('li[data-action="user.api_token.create"]')
      .first()
      .waitFor({ timeout: 1000 })
      .catch(() => undefined);
  }
  await screenshot(page, 'audit-log');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  const csv = readFileSync((await download.path())!, 'utf8');
  assert.match(csv.split('\n')[0]!, 'action');
  assert.match(csv, 'user.api_token.create');
  noConsoleErrors();
});

test('Trigger pipeline on a project page starts one, listed there', async () => {
  await page.goto(`/projects/${slug}`);
  await page.getByRole('link', { name: 'Pipeline 1', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Trigger pipeline' }).click();
  await page.getByRole('link', { name: 'Pipeline 2', exact: true }).waitFor();
  noConsoleErrors();
});

test("Cancel job on a running job's page cancels it, and what requires it is not run", async () => {
  const jobsOf = async (number: number) =>
    ((
      await ok(g, 'query($s: String!, $n: Int!) { pipelineByNumber(projectSlug: $s, number: $n) { workflows { jobs { name status } } } }', {
        s: slug,
        n: number,
      })
    ).pipelineByNumber?.workflows[0]?.jobs ?? []) as Array<{ name: string; status: string }>;
  // pipeline 2's build ends first (its signal is there): the host runs one machine job at a time
  await until("pipeline 2's build to end", async () =>
    (await jobsOf(2)).some((j) => j.name === 'build' && !['blocked', 'queued', 'running'].includes(j.status)) ? true : undefined,
  );
  rmSync(join(signals, 'go'));
  const p = await trigger(g, slug);
  const build = p.workflows[0]!.jobs.find((j) => j.name === 'build')!;
  await page.goto(`/pipelines/${slug}/${p.number}/workflows/${p.workflows[0]!.id}/jobs/${build.jobNumber}`);
  await page.getByRole('heading', { name: 'build', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Cancel job build' }).click();
  await page.getByRole('button', { name: 'Confirm cancel job build' }).click();
  await page.getByRole('status').filter({ hasText: 'build was canceled.' }).waitFor();
  await page.locator('.facts [data-state="canceled"]').waitFor({ timeout: 30_000 });
  assert.is(await page.getByRole('button', { name: 'Cancel job build' }).count(), 0, 'no Cancel job on a canceled job');
  const jobs = await until('the workflow to end', async () => {
    const js = await jobsOf(p.number);
    return js.every((j) => j.status !== 'blocked') ? js : undefined;
  });
  assert.equal(Object.fromEntries(jobs.map((j) => [j.name, j.status])), { build: 'canceled', hold: 'not_run', deploy: 'not_run' });
  noConsoleErrors();
});

test.run();

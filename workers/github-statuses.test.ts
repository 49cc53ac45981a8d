import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GitHubRateLimited, GitHubRefused, type CommitStatus, type GitHub } from '../adapters/github/port.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { until } from '../test/support/jobs.ts';
import { ensureStatusOutboxTable, jobOutcome, startStatusSender, workflowOutcome, type StatusSender } from './github-statuses.ts';

/**
 * The sender against the real (test) database and a GitHub that fails as asked, on a clock the test
 * moves: what is owed is sent once, pending before final, and retries wait as GitHub says.
 */
const test = suite('workers/github-statuses: the commit status sender');
const db = testDatabase();
let clock = 1_000_000;
const sent: Array<{ token: string; sha: string } & CommitStatus> = [];
const failures: Array<Error> = [];
const github: GitHub = {
  identity: () => Promise.reject(new Error('not used')),
  createHook: () => Promise.reject(new Error('not used')),
  deleteHook: () => Promise.reject(new Error('not used')),
  async createStatus(token, _repo, sha, status) {
    const failure = failures.shift();
    if (failure) throw failure;
    sent.push({ token, sha, ...status });
  },
};
const tokens = { githubToken: async (userId: string) => (userId === 'u1' ? 'gho_token' : null) };
const log = { warn: () => {}, error: () => {}, info: () => {} };
let sender: StatusSender;

let seq = 0;
const owe = async (context: string, state: string, description: string, extra: Record<string, unknown> = {}) => {
  seq++;
  const row = { project_id: 'p1', sha: 'abc123', context, repository: 'acme/widget', follower_id: 'u1', workflow_id: 'w1', state, description, target_url: `http://gyre/${context}`, seq: String(seq).padStart(10, '0'), ...extra };
  await db('github_status_outbox').insert(row).onConflict(['project_id', 'sha', 'context']).merge(['state', 'description', 'seq', 'follower_id']);
  sender.wake();
};
const rowOf = (context: string) => db('github_status_outbox').where({ context }).first();
const sentFor = (context: string) => sent.filter((s) => s.context === context).map((s) => `${s.state}:${s.description}`);

test.before(async () => {
  await resetDatabase();
  await ensureStatusOutboxTable(db);
  sender = startStatusSender({ db, github, tokens, log, now: () => clock, pollMs: 20, backoffMs: 1000, maxBackoffMs: 4000 });
});
test.after(async () => sender.stop());

test('a final state owed with no pending sent goes out as pending, then the final; sent once', async () => {
  await owe('ci/gyre: a', 'success', 'Succeeded in 3s');
  await until('two posts', async () => (sent.length >= 2 ? true : undefined), 5000);
  assert.equal(sentFor('ci/gyre: a'), ['pending:Queued', 'success:Succeeded in 3s']);
  assert.ok(sent.every((s) => s.token === 'gho_token' && s.sha === 'abc123'));
  const row = await rowOf('ci/gyre: a');
  assert.is(row.sent_seq, row.seq);
});

test('GitHub down: retried with doubling backoff, capped, on the injected clock; the latest state wins', async () => {
  failures.push(new GitHubRefused(502, 'bad gateway'), new GitHubRefused(503, 'unavailable'), new GitHubRefused(500, 'oops'), new GitHubRefused(500, 'oops'));
  await owe('ci/gyre: b', 'pending', 'Running');
  for (let k = 1; k <= 4; k++) {
    const row = await until(`attempt ${k}`, async () => {
      const r = await rowOf('ci/gyre: b');
      return r.attempts === k ? r : undefined;
    }, 5000);
    assert.is(Number(row.next_attempt_at) - clock, Math.min(1000 * 2 ** (k - 1), 4000), `wait ${k}: doubling, capped`);
    if (k < 4) {
      // each wait is due on the clock: move it
      clock = Number(row.next_attempt_at);
      sender.wake();
    }
  }
  // while it waits, the job ends: only the final state will be sent, after the pending already owed
  await owe('ci/gyre: b', 'failure', 'Failed after 9s');
  assert.equal(sentFor('ci/gyre: b'), [], 'nothing before the backoff is over');
  clock += 4000;
  sender.wake();
  await until('the final state', async () => (sentFor('ci/gyre: b').length === 2 ? true : undefined), 5000);
  assert.equal(sentFor('ci/gyre: b'), ['pending:Queued', 'failure:Failed after 9s']);
});

test('a rate limit pauses every post until GitHub says; then all owed go out', async () => {
  failures.push(new GitHubRateLimited(clock + 60_000));
  await owe('ci/gyre: c', 'pending', 'Queued');
  await owe('ci/gyre: d', 'pending', 'Queued');
  await until('the refusal', async () => (failures.length === 0 ? true : undefined), 5000);
  await new Promise((r) => setTimeout(r, 100)); // the loop runs every 20 ms: five rounds to prove it holds back
  assert.equal([sentFor('ci/gyre: c'), sentFor('ci/gyre: d')], [[], []], 'paused until the reset');
  clock += 60_000;
  sender.wake();
  await until('both', async () => (sentFor('ci/gyre: c').length + sentFor('ci/gyre: d').length === 2 ? true : undefined), 5000);
});

test('refused for good (422) or no token: given up, not retried', async () => {
  failures.push(new GitHubRefused(422, 'No commit found for SHA'));
  await owe('ci/gyre: e', 'pending', 'Queued');
  await until('given up', async () => ((await rowOf('ci/gyre: e')).sent_seq ? true : undefined), 5000);
  assert.match((await rowOf('ci/gyre: e')).last_error, /No commit found/);
  await owe('ci/gyre: f', 'pending', 'Queued', { follower_id: 'u2' });
  await until('given up', async () => ((await rowOf('ci/gyre: f')).sent_seq ? true : undefined), 5000);
  assert.match((await rowOf('ci/gyre: f')).last_error, /no GitHub token/);
  assert.equal([sentFor('ci/gyre: e'), sentFor('ci/gyre: f')], [[], []]);
});

test('what is owed survives a restart: a new sender posts it', async () => {
  await sender.stop();
  await db('github_status_outbox').insert({ project_id: 'p1', sha: 'abc123', context: 'ci/gyre: g', repository: 'acme/widget', follower_id: 'u1', workflow_id: 'w1', state: 'success', description: 'Succeeded in 1s', target_url: 'http://gyre/g', seq: String(++seq).padStart(10, '0') });
  assert.equal(sentFor('ci/gyre: g'), []);
  sender = startStatusSender({ db, github, tokens, log, now: () => clock, pollMs: 20 });
  await until('the owed status', async () => (sentFor('ci/gyre: g').length === 2 ? true : undefined), 5000);
  assert.equal(sentFor('ci/gyre: g'), ['pending:Queued', 'success:Succeeded in 1s']);
});

test("outcomes: GitHub's states and what the descriptions say", () => {
  assert.equal(jobOutcome('success', ' in 12s', null), { state: 'success', description: 'Succeeded in 12s' });
  assert.equal(jobOutcome('failed', ' in 12s', null), { state: 'failure', description: 'Failed after 12s' });
  assert.equal(jobOutcome('timedout', ' in 5m 0s', null).state, 'failure');
  assert.equal(jobOutcome('infrastructure_fail', '', 'the agent was lost').description, 'Infrastructure failure: the agent was lost');
  assert.equal(jobOutcome('canceled', '', 'canceled by pat'), { state: 'error', description: 'Canceled: canceled by pat' });
  assert.equal(jobOutcome('unauthorized', '', null).state, 'error');
  assert.equal(workflowOutcome('failed', ' in 1m 3s'), { state: 'failure', description: 'Failed after 1m 3s' });
  assert.equal(workflowOutcome('canceled', '').state, 'error');
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DestroyedKeyError } from '../adapters/encryption/vault.ts';
import { GitHubRateLimited, GitHubRefused, type CommitStatus, type GitHub } from '../adapters/github/port.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { until } from '../test/support/jobs.ts';
import {
  ensureStatusOutboxTable,
  jobOutcome,
  oweStatus,
  startStatusSender,
  workflowOutcome,
  type StatusSender,
  type StatusSenderOptions,
} from './github-statuses.ts';

/**
 * The sender against the real (test) database and a GitHub that fails as asked, on a clock the test
 * moves: what is owed is sent once, pending before final, and retries wait as GitHub says. Each test
 * starts with an empty outbox, its own sender and GitHub, and its own commit.
 */
const test = suite('workers/github-statuses: the commit status sender');
const db = testDatabase();
const log = { warn: () => {}, error: () => {}, info: () => {} };

interface Context {
  clock: number;
  sent: Array<{ token: string; sha: string } & CommitStatus>;
  failures: Error[];
  tokenLookups: string[];
  github: GitHub;
  tokens: StatusSenderOptions['tokens'];
  senders: StatusSender[];
  sha: string;
  seq: number;
}
let x: Context;
let shas = 0;

const startSender = (extra: Partial<StatusSenderOptions> = {}) => {
  const sender = startStatusSender({
    db,
    github: x.github,
    tokens: x.tokens,
    log,
    now: () => x.clock,
    pollMs: 20,
    backoffMs: 1000,
    maxBackoffMs: 4000,
    ...extra,
  });
  x.senders.push(sender);
  return sender;
};

test.before(async () => {
  await resetDatabase();
  await ensureStatusOutboxTable(db);
});
test.before.each(async () => {
  await db('github_status_outbox').del();
  await db('github_status_rate_limits').del();
  const c: Context = {
    clock: 1_000_000,
    sent: [],
    failures: [],
    tokenLookups: [],
    senders: [],
    sha: `abc${String(++shas).padStart(4, '0')}`,
    seq: 0,
    github: {
      identity: () => Promise.reject(new Error('not used')),
      createHook: () => Promise.reject(new Error('not used')),
      deleteHook: () => Promise.reject(new Error('not used')),
      async createStatus(token, _repo, sha, status) {
        const failure = c.failures.shift();
        if (failure) throw failure;
        c.sent.push({ token, sha, ...status });
      },
    },
    tokens: {
      async githubToken(userId: string) {
        c.tokenLookups.push(userId);
        if (userId === 'deleted') throw new DestroyedKeyError();
        return userId === 'u1' ? 'gho_token' : null;
      },
    },
  };
  x = c;
});
test.after.each(async () => {
  for (const s of x.senders) await s.stop();
});

/** A row as the reactor writes it (through the same upsert), then the sender woken. */
const row = (context: string, state: string, description: string, extra: Record<string, unknown> = {}) =>
  ({
    project_id: 'p1',
    sha: x.sha,
    context,
    repository: 'acme/widget',
    follower_id: 'u1',
    workflow_id: 'w1',
    state,
    description,
    target_url: `http://gyre/${context}`,
    seq: String(++x.seq).padStart(10, '0'),
    ...extra,
  }) as Parameters<typeof oweStatus>[1];
const owe = async (sender: StatusSender, context: string, state: string, description: string, extra: Record<string, unknown> = {}) => {
  await oweStatus(db, row(context, state, description, extra));
  sender.wake();
};
const rowOf = (context: string) => db('github_status_outbox').where({ sha: x.sha, context }).first();
const sentFor = (context: string) => x.sent.filter((s) => s.context === context && s.sha === x.sha).map((s) => `${s.state}:${s.description}`);

test('a final state owed with no pending sent goes out as pending, then the final; sent once', async () => {
  const sender = startSender();
  await owe(sender, 'ci/gyre: a', 'success', 'Succeeded in 3s');
  await until('two posts', async () => (x.sent.length >= 2 ? true : undefined), 5000);
  await sender.pass();
  assert.equal(sentFor('ci/gyre: a'), ['pending:Queued', 'success:Succeeded in 3s']);
  assert.ok(x.sent.every((s) => s.token === 'gho_token'));
  const r = await rowOf('ci/gyre: a');
  assert.is(r.sent_seq, r.seq);
});

test('a rerun on the same commit and context (another workflow) posts its own pending before its final', async () => {
  const sender = startSender();
  await owe(sender, 'ci/gyre: a', 'success', 'Succeeded in 3s');
  await until('the first run', async () => (sentFor('ci/gyre: a').length === 2 ? true : undefined), 5000);
  await owe(sender, 'ci/gyre: a', 'failure', 'Failed after 4s', { workflow_id: 'w2' });
  await until(
    'the rerun',
    async () => (sentFor('ci/gyre: a').length >= 3 && (await rowOf('ci/gyre: a')).sent_seq === (await rowOf('ci/gyre: a')).seq ? true : undefined),
    5000,
  );
  assert.equal(sentFor('ci/gyre: a'), ['pending:Queued', 'success:Succeeded in 3s', 'pending:Queued', 'failure:Failed after 4s']);
});

test('GitHub down: retried with doubling backoff, capped, on the injected clock; the latest state wins', async () => {
  const sender = startSender();
  x.failures.push(new GitHubRefused(502, 'bad gateway'), new GitHubRefused(503, 'unavailable'), new GitHubRefused(500, 'oops'), new GitHubRefused(500, 'oops'));
  await owe(sender, 'ci/gyre: b', 'pending', 'Running');
  for (let k = 1; k <= 4; k++) {
    const r = await until(
      `attempt ${k}`,
      async () => {
        const found = await rowOf('ci/gyre: b');
        return found.attempts === k ? found : undefined;
      },
      5000,
    );
    assert.is(Number(r.next_attempt_at) - x.clock, Math.min(1000 * 2 ** (k - 1), 4000), `wait ${k}: doubling, capped`);
    if (k < 4) {
      // each wait is due on the clock: move it
      x.clock = Number(r.next_attempt_at);
      sender.wake();
    }
  }
  // while it waits, the job ends: only the final state will be sent, after the pending already owed
  await owe(sender, 'ci/gyre: b', 'failure', 'Failed after 9s');
  await sender.pass();
  await sender.pass();
  assert.equal(sentFor('ci/gyre: b'), [], 'nothing before the backoff is over');
  x.clock += 4000;
  sender.wake();
  await until('the final state', async () => (sentFor('ci/gyre: b').length === 2 ? true : undefined), 5000);
  assert.equal(sentFor('ci/gyre: b'), ['pending:Queued', 'failure:Failed after 9s']);
});

test("a rate limit holds back every status owed with the follower's token, on every server, until GitHub says; then all go out", async () => {
  // two servers over one table
  const [one, two] = [startSender(), startSender()];
  x.failures.push(new GitHubRateLimited(x.clock + 60_000));
  await oweStatus(db, row('ci/gyre: c', 'pending', 'Queued'));
  one.wake();
  await until('the refusal', async () => (x.failures.length === 0 ? true : undefined), 5000);
  // another context owed with the same token, seen first by the other server
  await oweStatus(db, row('ci/gyre: d', 'pending', 'Queued'));
  await oweStatus(db, row('ci/gyre: e', 'pending', 'Queued', { follower_id: 'u3' }));
  await Promise.all([one.pass(), two.pass()]);
  await Promise.all([one.pass(), two.pass()]);
  assert.equal([sentFor('ci/gyre: c'), sentFor('ci/gyre: d')], [[], []], 'held back until the reset');
  assert.is(Number((await rowOf('ci/gyre: c')).next_attempt_at), x.clock + 60_000, 'in the table');
  assert.equal(
    (await db('github_status_rate_limits').select()).map((l) => [l.follower_id, Number(l.until)]),
    [['u1', x.clock + 60_000]],
    'for the follower, shared by every server',
  );
  assert.match((await rowOf('ci/gyre: e')).last_error, /no GitHub token/, "another follower's statuses are not held back");
  x.clock += 60_000;
  one.wake();
  two.wake();
  await until('both', async () => (sentFor('ci/gyre: c').length > 0 && sentFor('ci/gyre: d').length > 0 ? true : undefined), 5000);
  await Promise.all([one.pass(), two.pass()]);
  assert.equal([sentFor('ci/gyre: c'), sentFor('ci/gyre: d')], [['pending:Queued'], ['pending:Queued']], 'each once, though both servers read it');
});

test('refused for good (422), no token, or a deleted follower: given up with the reason, not retried', async () => {
  const sender = startSender();
  x.failures.push(new GitHubRefused(422, 'No commit found for SHA'));
  await owe(sender, 'ci/gyre: e', 'pending', 'Queued');
  await owe(sender, 'ci/gyre: f', 'pending', 'Queued', { follower_id: 'u2' });
  await owe(sender, 'ci/gyre: g', 'success', 'Succeeded in 1s', { follower_id: 'deleted' });
  const given = async (c: string) => until(`${c} given up`, async () => ((await rowOf(c)).sent_seq ? await rowOf(c) : undefined), 5000);
  assert.match((await given('ci/gyre: e')).last_error, /No commit found/);
  assert.match((await given('ci/gyre: f')).last_error, /no GitHub token/);
  const deleted = await given('ci/gyre: g');
  assert.match(deleted.last_error, /deleted/);
  assert.is(Number(deleted.claimed_until), 0, 'not left claimed');
  await sender.pass();
  assert.equal([sentFor('ci/gyre: e'), sentFor('ci/gyre: f'), sentFor('ci/gyre: g')], [[], [], []]);
});

test("a pass opens each follower's token once, however many statuses it posts", async () => {
  await db('github_status_outbox').insert([
    row('ci/gyre: h', 'success', 'Succeeded in 1s'),
    row('ci/gyre: i', 'failure', 'Failed after 2s'),
    row('ci/gyre: j', 'pending', 'Running'),
  ]);
  startSender();
  await until(
    'all three',
    async () => (sentFor('ci/gyre: h').length + sentFor('ci/gyre: i').length + sentFor('ci/gyre: j').length === 5 ? true : undefined),
    5000,
  );
  assert.equal(x.tokenLookups, ['u1']);
});

test('what is owed survives a restart: a new sender posts it', async () => {
  const first = startSender();
  await first.stop();
  await db('github_status_outbox').insert(row('ci/gyre: g', 'success', 'Succeeded in 1s'));
  assert.equal(sentFor('ci/gyre: g'), []);
  startSender();
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

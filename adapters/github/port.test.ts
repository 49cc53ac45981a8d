import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGitHubStandIn } from '../../test/support/github-standin.ts';
import { defaultApiUrl, GitHubRateLimited, GitHubRefused, rateLimitRetryAt } from './port.ts';
import { createGitHub } from './rest.ts';

const test = suite('adapters/github: the API next to a GitHub URL');

test('github.com has api.github.com; an Enterprise host serves /api/v3', () => {
  assert.is(defaultApiUrl('https://github.com'), 'https://api.github.com');
  assert.is(defaultApiUrl('https://github.example.com/'), 'https://github.example.com/api/v3');
  assert.is(defaultApiUrl('http://127.0.0.1:9000'), 'http://127.0.0.1:9000/api/v3');
});

test('a rate limit says when to retry: retry-after seconds first, else x-ratelimit-reset when none remain', () => {
  const now = 1_700_000_000_000;
  assert.is(rateLimitRetryAt(429, { 'retry-after': '3' }, now), now + 3000);
  assert.is(rateLimitRetryAt(403, { 'retry-after': '1' }, now), now + 1000);
  assert.is(rateLimitRetryAt(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 42) }, now), now + 42_000);
  assert.is(rateLimitRetryAt(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 - 5) }, now), now, 'a reset already past: now');
  assert.is(rateLimitRetryAt(429, {}, now), now + 60_000, 'a secondary limit without headers: a minute');
  assert.is(rateLimitRetryAt(403, { 'x-ratelimit-remaining': '12' }, now), undefined, 'a 403 with requests left is a refusal');
  assert.is(rateLimitRetryAt(404, { 'retry-after': '3' }, now), undefined);
  const secondary = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';
  assert.is(rateLimitRetryAt(403, { 'x-ratelimit-remaining': '4990' }, now, secondary), now + 60_000, 'a secondary limit in a 403: at least a minute');
  assert.is(rateLimitRetryAt(403, {}, now, 'You have triggered an abuse detection mechanism.'), now + 60_000);
  assert.is(rateLimitRetryAt(403, { 'retry-after': '5' }, now, secondary), now + 5000, 'retry-after still comes first');
  assert.is(rateLimitRetryAt(403, {}, now, 'Resource not accessible by integration'), undefined);
});

test('the REST adapter against the stand-in: a 403 secondary rate limit is a rate limit (a minute), a plain 403 a refusal', async () => {
  const standIn = await startGitHubStandIn({ id: 'port-test', secret: 'port-test-secret' });
  try {
    const github = createGitHub(`${standIn.url}/api/v3`);
    const token = standIn.issueToken({ id: 7, login: 'porter', name: 'porter', orgs: [] });
    const status = { state: 'pending' as const, context: 'ci/gyre: w', description: 'x'.repeat(200), targetUrl: 'http://gyre/w' };
    standIn.repos.rateLimitNext = { kind: 'secondary', count: 1, resetInSeconds: 0 };
    const before = Date.now();
    const limited = await github.createStatus(token, { owner: 'acme', name: 'widget' }, 'abc123', status).then(
      () => null,
      (e: unknown) => e,
    );
    assert.instance(limited, GitHubRateLimited);
    assert.ok((limited as GitHubRateLimited).retryAt >= before + 60_000 && (limited as GitHubRateLimited).retryAt <= Date.now() + 60_000, 'a minute from now');
    await github.createStatus(token, { owner: 'acme', name: 'widget' }, 'abc123', status);
    assert.is(standIn.repos.statuses.get('acme/widget@abc123')![0]!.description.length, 140, 'the description cut to what GitHub takes');
    standIn.repos.refuseHooks.set('acme/widget', 403);
    const refused = await github.createHook(token, { owner: 'acme', name: 'widget' }, { url: 'http://gyre/hooks/github', secret: 's', events: ['push'] }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.instance(refused, GitHubRefused);
    assert.is((refused as GitHubRefused).status, 403);
  } finally {
    await standIn.close();
  }
});

test.run();

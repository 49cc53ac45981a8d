import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultApiUrl, rateLimitRetryAt } from './port.ts';

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
});

test.run();

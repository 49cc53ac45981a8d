import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultSettings } from '../system/settings.ts';
import { expiryCutoffs, kindsByJob } from './retention.ts';

const test = suite('domain/files/retention');

test('each kind expires its own period before now', () => {
  const now = new Date('2026-03-31T12:00:00Z');
  const c = expiryCutoffs({ ...defaultSettings, artifactRetentionDays: 7 }, now);
  assert.is(c.output.toISOString(), '2026-03-01T12:00:00.000Z');
  assert.is(c.artifacts.toISOString(), '2026-03-24T12:00:00.000Z');
  assert.is(c.tests.toISOString(), '2026-03-01T12:00:00.000Z');
  assert.is(c.workspace.toISOString(), '2026-03-16T12:00:00.000Z');
  assert.is(c.cache.toISOString(), '2026-03-16T12:00:00.000Z');
});

test('the kinds due for one job go together, each once', () => {
  const a = { jobId: 'a' };
  const b = { jobId: 'b' };
  const grouped = kindsByJob([
    { kind: 'output', jobs: [a, b] },
    { kind: 'artifacts', jobs: [b] },
    { kind: 'workspace', jobs: [b, b] },
  ]);
  assert.equal(grouped, [
    { job: a, kinds: ['output'] },
    { job: b, kinds: ['output', 'artifacts', 'workspace'] },
  ]);
});

test.run();

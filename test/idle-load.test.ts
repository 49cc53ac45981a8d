import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, type TestGyre } from './support/gyre.ts';

const test = suite('idle load: a Gyre with nothing to do sends (almost) no statements');
let gyre: TestGyre;

test.before(async () => {
  gyre = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  await gyre.services.settled();
});
test.after(async () => gyre.stop());

test('over 3 s with no traffic, at most one schedules look and one agent heartbeat', async () => {
  const statements: string[] = [];
  const count = (q: { sql: string }) => statements.push(q.sql);
  gyre.services.db.on('query', count);
  // a window to measure over, not a wait for something: nothing should happen in it
  await new Promise((r) => setTimeout(r, 3000));
  gyre.services.db.off('query', count);
  // before: the local agent beat every second (3 statements) and the status sender looked every 2 s (2): about 20 in 3 s
  assert.ok(statements.length <= 4, `${statements.length} statements while idle:\n${statements.join('\n')}`);
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { allProjections } from '../../projections/all.ts';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api/rest/health');
let g: TestGyre;

test.before(async () => {
  g = await startTestGyre({ GYRE_READY_MAX_LAG_MS: '1000' });
});
test.after(async () => g.stop());

test('healthz answers while the process is up', async () => {
  const r = await g.app.inject({ method: 'GET', url: '/healthz' });
  assert.is(r.statusCode, 200);
  assert.equal(r.json(), { status: 'ok' });
});

test('readyz is 200 with every projection caught up', async () => {
  const r = await g.app.inject({ method: 'GET', url: '/readyz' });
  assert.is(r.statusCode, 200);
  const body = r.json();
  assert.is(body.status, 'ready');
  assert.equal(body.projections.map((p: any) => p.name).sort(), allProjections.map((p) => p.name).sort());
});

test('readyz is 503 naming the projection that lags behind the log', async () => {
  await g.services.projections.stop();
  // while the runner is down, the log moves on without the read models
  await g.services.commands.record(
    'health-check',
    { type: 'audit_log.export', data: { since: null, until: null, actions: [] } },
    { context: { actor: { id: 't', type: 'system' }, request: null }, target: { id: 'x', type: 'x' } },
  );
  assert.ok(g.services.projections.status(await g.services.store.head()).some((p) => !p.caughtUp));
  // a stopped runner never catches up: once the bound passes it is unready
  const deadline = Date.now() + 5000;
  let r = await g.app.inject({ method: 'GET', url: '/readyz' });
  while (r.statusCode === 200 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100));
    r = await g.app.inject({ method: 'GET', url: '/readyz' });
  }
  assert.is(r.statusCode, 503);
  assert.match(r.json().reason, /projection \w+ is \d+s behind the log/);
});

test('unknown routes are 404 with a JSON message', async () => {
  const r = await g.app.inject({ method: 'GET', url: '/nope?x=1' });
  assert.is(r.statusCode, 404);
  assert.equal(r.json(), { message: 'no route GET /nope', code: 'NOT_FOUND' });
});

test.run();

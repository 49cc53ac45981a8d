import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, type TestGyre } from './support/gyre.ts';

/** A browser session ends after GYRE_SESSION_IDLE_HOURS unused, however young; each use keeps it (the clock sessions age by is moved). */
const test = suite('sessions: the idle lifetime');
let g: TestGyre;
let gyre: string;
let ahead = 0;
const minute = 60_000;

test.before(async () => {
  g = await startTestGyre({ GYRE_SESSION_IDLE_HOURS: '0.5' }, { now: () => Date.now() + ahead });
  gyre = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(() => g.stop());

const sessionOf = async (token: string) => {
  const res = await fetch(`${gyre}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: gyre },
    body: JSON.stringify({ token }),
  });
  assert.is(res.status, 200);
  return res.headers.getSetCookie()[0]!.split(';')[0]!;
};
const me = (cookie: string) => fetch(`${gyre}/api/v2/me`, { headers: { cookie } });

test('a session used within the idle lifetime lasts; one left unused that long has ended', async () => {
  const used = await sessionOf(g.adminToken);
  const left = await sessionOf(g.adminToken);
  ahead = 20 * minute;
  assert.is((await me(used)).status, 200);
  ahead = 45 * minute;
  assert.is((await me(used)).status, 200, 'used 25 minutes ago: it lasts');
  const ended = await me(left);
  assert.is(ended.status, 401, 'unused for 45 minutes: ended');
  assert.match(await ended.text(), /unused too long; sign in again/);
  ahead = 76 * minute;
  assert.is((await me(used)).status, 401, 'unused for 31 minutes since: ended too');
  ahead = 0;
});

test.run();

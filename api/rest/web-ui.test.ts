import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { START } from '../../adapters/eventstore/port.ts';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';
import { contentSecurityPolicy, webUiPaths } from './web-ui.ts';

/** The web UI as the server hands it out (built by the set-up step into dist/web). */
const test = suite('api/rest/web-ui: the app, its files and its headers');
const built = resolve(import.meta.dirname, '../../dist/web');
let g: TestGyre;
test.before(async () => {
  g = await startTestGyre();
});
test.after(async () => {
  await g.stop();
});

test('every UI address answers the app under the strict CSP, never cached; its page holds no inline script or style', async () => {
  for (const path of [...webUiPaths.map((p) => p.replace('*', 'gh/acme/app')), '/pipelines/gh/acme/app/3/workflows/w/jobs/7']) {
    const r = await g.app.inject({ url: path });
    assert.is(r.statusCode, 200, path);
    assert.is(r.headers['content-security-policy'], contentSecurityPolicy, path);
    assert.is(r.headers['cache-control'], 'no-cache', path);
    assert.match(r.headers['content-type'] as string, 'text/html');
  }
  const page = (await g.app.inject({ url: '/' })).body;
  for (const script of page.match(/<script\b[^>]*>/g) ?? [])
    assert.match(script, / src="\/assets\/[^"]+-[A-Za-z0-9_-]{8}\.js"/, 'only hashed scripts of this origin');
  assert.not.match(page, /<script\b[^>]*>[^<]+<\/script>/, 'no inline script');
  assert.not.match(page, /\sstyle=|<style/, 'no inline style');
  assert.match(contentSecurityPolicy, "script-src 'self'");
  assert.not.match(contentSecurityPolicy, 'unsafe-inline');
});

test('scripts and styles have hashed names, are cached for good, and the whole script is far under 200 KB compressed', async () => {
  const assets = readdirSync(join(built, 'assets'));
  assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')));
  let compressed = 0;
  for (const name of assets) {
    assert.match(name, /-[A-Za-z0-9_-]{8}\.(js|css)$/, 'a hashed name');
    const r = await g.app.inject({ url: `/assets/${name}` });
    assert.is(r.statusCode, 200);
    assert.match(r.headers['cache-control'] as string, 'immutable');
    assert.match(r.headers['cache-control'] as string, 'max-age=31536000');
    assert.is(r.headers['content-security-policy'], contentSecurityPolicy);
    if (name.endsWith('.js')) compressed += gzipSync(readFileSync(join(built, 'assets', name))).length;
  }
  assert.ok(compressed < 200 * 1024, `${compressed} bytes of compressed script`);
  assert.is((await g.app.inject({ url: '/assets/nope.js' })).statusCode, 404);
});

test('who is signed in is answered to everyone, without a refusal in the audit log', async () => {
  const refusals = async () => (await g.services.store.readAll(START, { limit: 10_000 })).events.filter((e) => !e.metadata.success).length;
  const before = await refusals();
  const anonymous = await g.app.inject({ url: '/auth/session' });
  assert.equal([anonymous.statusCode, anonymous.json()], [200, { signedIn: false }]);
  const admin = await g.app.inject({ url: '/auth/session', headers: { authorization: `Bearer ${g.adminToken}` } });
  assert.equal(admin.json(), { signedIn: true, login: 'admin', name: 'Administrator', isAdmin: true, state: 'ACTIVE' });
  assert.is(await refusals(), before);
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { browser, startGitHubStandIn } from './support/github-standin.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';

/**
 * Organization membership decides access, and GitHub may change it between sign-ins: when it decides
 * access and was read over an hour ago (the clock sessions age by is moved), it is read from GitHub
 * again with the person's sealed OAuth token, and a change is recorded.
 */
const test = suite('membership: read again from GitHub at least hourly when it decides access');
const client = { id: 'gyre-refresh', secret: 'canary-client-secret-refresh' };
let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
let g: TestGyre;
let gyre: string;
let ahead = 0;

test.before(async () => {
  github = await startGitHubStandIn(client);
  g = await startTestGyre(
    { GYRE_GITHUB_URL: github.url, GYRE_GITHUB_CLIENT_ID: client.id, GYRE_GITHUB_CLIENT_SECRET: client.secret },
    { now: () => Date.now() + ahead },
  );
  gyre = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(async () => {
  await g.stop();
  await github.close();
});

test('a person who left an organization on GitHub loses its rights within the hour; one who joined gains them', async () => {
  github.state.signingIn = { id: 501, login: 'mo', name: 'Mo', orgs: ['acme'] };
  const person = github.state.signingIn;
  const b = browser();
  await b.visit(`${gyre}/auth/github`);
  const follow = async (slug: string) => {
    const { res } = await b.visit(`${gyre}/graphql`, {
      method: 'POST',
      headers: { origin: gyre, 'content-type': 'application/json' },
      body: JSON.stringify({ query: `mutation { createProject(input: {slug: "${slug}"}) { slug } }` }),
    });
    const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    return body.errors?.[0]?.extensions?.code;
  };
  // a member gets past the membership check (to the webhook, which this Gyre without GYRE_PUBLIC_URL cannot register)
  assert.is(await follow('gh/acme/one'), 'PUBLIC_URL_REQUIRED');
  assert.is(await follow('gh/other/one'), 'NOT_ORG_MEMBER');

  person.orgs = ['other'];
  ahead = 30 * 60_000;
  assert.is(await follow('gh/acme/two'), 'PUBLIC_URL_REQUIRED', 'read less than an hour ago: not asked again');
  ahead = 61 * 60_000;
  assert.is(await follow('gh/acme/three'), 'NOT_ORG_MEMBER', 'left acme on GitHub');
  assert.is(await follow('gh/other/three'), 'PUBLIC_URL_REQUIRED', 'joined other on GitHub');
  const [refreshed] = await waitForAudit(g, (e) => e.action === 'user.memberships.refresh' && e.target.name === 'mo');
  assert.equal(refreshed?.payload.orgs, ['other']);
  ahead = 0;
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from './support/ports.ts';
import { browser, startGitHubStandIn } from './support/github-standin.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';

/**
 * A Gyre without GYRE_PUBLIC_URL does not know where GitHub reaches it: following a GitHub repository
 * (which registers a webhook) is refused, naming the setting, before GitHub is asked anything. This
 * Gyre also follows private repositories (GYRE_GITHUB_PRIVATE_REPOS), so its sign-in asks for `repo`.
 */
const test = suite('follow without GYRE_PUBLIC_URL, and of private repositories');
const client = { id: 'gyre-no-public-url', secret: 'canary-client-secret-no-public-url' };
let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
let g: TestGyre;
let gyre: string;

test.before(async () => {
  github = await startGitHubStandIn(client);
  const port = await freePort();
  gyre = `http://127.0.0.1:${port}`;
  g = await startTestGyre({
    GYRE_GITHUB_URL: github.url,
    GYRE_GITHUB_CLIENT_ID: client.id,
    GYRE_GITHUB_CLIENT_SECRET: client.secret,
    GYRE_GITHUB_PRIVATE_REPOS: 'true',
    GYRE_GIT_ALLOWED_HOSTS: 'git.example.com',
    GYRE_PORT: String(port),
  });
  await g.app.listen({ port, host: '127.0.0.1' });
});
test.after(async () => {
  await g.stop();
  await github.close();
});

test('with GYRE_GITHUB_PRIVATE_REPOS=true the sign-in also asks GitHub for the repo scope', async () => {
  const first = await fetch(`${gyre}/auth/github`, { redirect: 'manual' });
  const scope = new URL(first.headers.get('location')!).searchParams.get('scope')!;
  assert.equal(scope.split(/[ ,]+/).sort(), ['admin:repo_hook', 'read:org', 'read:user', 'repo', 'repo:status']);
});

test('following a repository on GitHub with a GitHub sign-in: PUBLIC_URL_REQUIRED, audited, no webhook, no project; other git URLs follow', async () => {
  github.state.signingIn = { id: 601, login: 'octo', name: 'octo', orgs: ['acme'] };
  const b = browser();
  const end = await b.visit(`${gyre}/auth/github`);
  assert.is(end.url, `${gyre}/`, await end.res.text());
  const follow = async (slug: string, gitUrl: string | null) => {
    const { res } = await b.visit(`${gyre}/graphql`, {
      method: 'POST',
      headers: { origin: gyre, 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'mutation($s: String!, $u: String) { createProject(input: {slug: $s, gitUrl: $u}) { slug webhook { hookId } } }',
        variables: { s: slug, u: gitUrl },
      }),
    });
    return (await res.json()) as { data: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  };
  const r = await follow('gh/acme/widget', null);
  assert.is(r.errors?.[0]?.extensions?.code, 'PUBLIC_URL_REQUIRED', JSON.stringify(r.errors));
  assert.match(r.errors![0]!.message, /GYRE_PUBLIC_URL/);
  assert.is(github.repos.hooks.get('acme/widget'), undefined, 'GitHub was not asked');
  assert.is((await g.gql('{ project(slug: "gh/acme/widget") { id } }')).body.data!.project, null);
  await waitForAudit(g, (e) => e.action === 'project.create' && e.success === false && e.payload.code === 'PUBLIC_URL_REQUIRED');
  const elsewhere = await follow('gh/acme/elsewhere', 'https://git.example.com/acme/elsewhere.git');
  assert.is(elsewhere.errors, undefined, JSON.stringify(elsewhere.errors));
  assert.is(elsewhere.data!.createProject.webhook, null);
});

test.run();

import { request } from '@octokit/request';
import { GitHubRateLimited, GitHubRefused, rateLimitRetryAt, type GitHub, type GitHubIdentity } from './port.ts';

/** The longest commit status description GitHub takes. */
const statusDescriptionLimit = 140;

/** Every page of a GitHub list, 100 items at a time. */
const allPages = async <T>(fetchPage: (page: number) => Promise<{ data: T[] }>): Promise<T[]> => {
  const out: T[] = [];
  for (let page = 1; ; page++) {
    const { data } = await fetchPage(page);
    out.push(...data);
    if (data.length < 100) return out;
  }
};

/** Octokit's errors as the port's: a rate limit says when to retry; any other answer keeps GitHub's status and message, never the token. */
const asPortError = (e: unknown, what: string): unknown => {
  // @octokit/request's RequestError: an HTTP status and GitHub's answer
  if (!(e instanceof Error) || typeof (e as { status?: unknown }).status !== 'number') return e;
  const err = e as Error & { status: number; response?: { headers?: unknown; data?: unknown } };
  if (err.status < 400) return e;
  const headers = (err.response?.headers ?? {}) as Record<string, string | number | undefined>;
  const data = err.response?.data as { message?: unknown } | undefined;
  const retryAt = rateLimitRetryAt(err.status, headers, Date.now(), typeof data?.message === 'string' ? data.message : '');
  if (retryAt !== undefined) return new GitHubRateLimited(retryAt);
  const said = typeof data?.message === 'string' ? data.message.slice(0, 300) : `HTTP ${err.status}`;
  return new GitHubRefused(err.status, `GitHub refused to ${what} (${err.status}): ${said}`);
};
const calling = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (e) {
    throw asPortError(e, what);
  }
};

/** GitHub's REST API through Octokit's request client, pointed at github.com or an Enterprise host. */
export const createGitHub = (apiUrl: string): GitHub => ({
  async identity(accessToken): Promise<GitHubIdentity> {
    const options = { baseUrl: apiUrl, headers: { authorization: `token ${accessToken}` }, per_page: 100 };
    const user = await request('GET /user', options);
    const orgs = await allPages((page) => request('GET /user/orgs', { ...options, page }));
    const teams = await allPages((page) => request('GET /user/teams', { ...options, page }));
    return {
      id: Number(user.data.id),
      login: user.data.login,
      name: user.data.name ?? user.data.login,
      orgs: orgs.map((o) => o.login),
      teams: teams.map((t) => `${t.organization.login}/${t.slug}`.toLowerCase()),
    };
  },
  async createHook(accessToken, repo, hook) {
    const options = { baseUrl: apiUrl, headers: { authorization: `token ${accessToken}` } };
    const created = await calling(`register a webhook on ${repo.owner}/${repo.name}`, () =>
      request('POST /repos/{owner}/{repo}/hooks', {
        ...options,
        owner: repo.owner,
        repo: repo.name,
        name: 'web',
        active: true,
        events: [...hook.events],
        config: { url: hook.url, content_type: 'json', secret: hook.secret, insecure_ssl: '0' },
      }),
    );
    return { id: Number(created.data.id) };
  },
  async deleteHook(accessToken, repo, hookId) {
    const options = { baseUrl: apiUrl, headers: { authorization: `token ${accessToken}` } };
    try {
      await calling(`remove webhook ${hookId} from ${repo.owner}/${repo.name}`, () =>
        request('DELETE /repos/{owner}/{repo}/hooks/{hook_id}', { ...options, owner: repo.owner, repo: repo.name, hook_id: hookId }),
      );
    } catch (e) {
      if (e instanceof GitHubRefused && e.status === 404) return;
      throw e;
    }
  },
  async createStatus(accessToken, repo, sha, status) {
    const options = { baseUrl: apiUrl, headers: { authorization: `token ${accessToken}` } };
    await calling(`post a commit status to ${repo.owner}/${repo.name}`, () =>
      request('POST /repos/{owner}/{repo}/statuses/{sha}', {
        ...options,
        owner: repo.owner,
        repo: repo.name,
        sha,
        state: status.state,
        context: status.context,
        description: status.description.slice(0, statusDescriptionLimit),
        target_url: status.targetUrl,
      }),
    );
  },
});

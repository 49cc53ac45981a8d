import { request } from '@octokit/request';
import type { GitHub, GitHubIdentity } from './port.ts';

/** Every page of a GitHub list, 100 items at a time. */
const allPages = async <T>(fetchPage: (page: number) => Promise<{ data: T[] }>): Promise<T[]> => {
  const out: T[] = [];
  for (let page = 1; ; page++) {
    const { data } = await fetchPage(page);
    out.push(...data);
    if (data.length < 100) return out;
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
});

import { request } from '@octokit/request';
import type { GitHub, GitHubIdentity } from './port.ts';

/** GitHub's REST API through Octokit's request client, pointed at github.com or an Enterprise host. */
export const createGitHub = (apiUrl: string): GitHub => ({
  async identity(accessToken): Promise<GitHubIdentity> {
    const headers = { authorization: `token ${accessToken}` };
    const user = await request('GET /user', { baseUrl: apiUrl, headers });
    const orgs: string[] = [];
    for (let page = 1; ; page++) {
      const found = await request('GET /user/orgs', { baseUrl: apiUrl, headers, per_page: 100, page });
      orgs.push(...found.data.map((o) => o.login));
      if (found.data.length < 100) break;
    }
    return { id: Number(user.data.id), login: user.data.login, name: user.data.name ?? user.data.login, orgs };
  },
});

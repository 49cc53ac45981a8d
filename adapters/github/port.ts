/** What Gyre reads of a person from GitHub or GitHub Enterprise, with the OAuth token they granted. */
export interface GitHubIdentity {
  readonly id: number;
  readonly login: string;
  readonly name: string;
  /** Logins of the organizations they belong to. */
  readonly orgs: ReadonlyArray<string>;
  /** Their teams, as `org/team-slug`: the security groups contexts are restricted to. */
  readonly teams: ReadonlyArray<string>;
}

export interface GitHub {
  identity(accessToken: string): Promise<GitHubIdentity>;
}

/** github.com's API lives on its own host; GitHub Enterprise serves it under /api/v3. */
export const defaultApiUrl = (githubUrl: string): string => {
  const u = new URL(githubUrl);
  return u.hostname === 'github.com' ? 'https://api.github.com' : `${u.origin}/api/v3`;
};

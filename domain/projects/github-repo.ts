import type { ProjectSlug } from './slugs.ts';

/** A repository on the GitHub (or GitHub Enterprise) host Gyre signs in with: `owner/name`. */
export interface GitHubRepoRef {
  readonly owner: string;
  readonly name: string;
}

const scpLike = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):\/?([^/\s]+)\/([^/\s]+?)(?:\.git)?\/?$/;

/**
 * The GitHub repository a project follows, when its git URL is on the host of `githubUrl`
 * (`https://host/owner/repo(.git)`, `ssh://git@host/owner/repo.git`, `git@host:owner/repo.git`),
 * or when it gives no git URL (then the slug names it); null for any other URL or a local path.
 */
export const githubRepoOf = (githubUrl: string, slug: ProjectSlug, gitUrl: string | undefined): GitHubRepoRef | null => {
  if (gitUrl === undefined) return { owner: slug.org, name: slug.repo };
  const host = new URL(githubUrl).hostname.toLowerCase();
  const scp = scpLike.exec(gitUrl);
  if (scp) return scp[1]!.toLowerCase() === host ? { owner: scp[2]!, name: scp[3]! } : null;
  let url: URL;
  try {
    url = new URL(gitUrl);
  } catch {
    return null;
  }
  if (!['https:', 'http:', 'ssh:', 'git:'].includes(url.protocol) || url.hostname.toLowerCase() !== host) return null;
  const m = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url.pathname);
  return m ? { owner: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!) } : null;
};

/** The git URL a project on the GitHub host is cloned from when none is given. */
export const githubCloneUrl = (githubUrl: string, slug: ProjectSlug): string => `${githubUrl.replace(/\/+$/, '')}/${slug.org}/${slug.repo}.git`;

export const repoName = (r: GitHubRepoRef) => `${r.owner}/${r.name}`;

/** The repository `repoName` wrote (`owner/name`), as recorded with a webhook or a commit status. */
export const parseRepoName = (repository: string): GitHubRepoRef => {
  const at = repository.indexOf('/');
  if (at <= 0 || at === repository.length - 1) throw new Error(`not a GitHub repository name: ${repository}`);
  return { owner: repository.slice(0, at), name: repository.slice(at + 1) };
};

import { ForbiddenError } from '../errors.ts';
import type { Member } from '../organizations.ts';

const scpLike = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):/;
const defaultPorts: Readonly<Record<string, number>> = { 'https:': 443, 'http:': 80, 'ssh:': 22, 'git:': 9418 };

/** Where a git URL makes Gyre connect: scheme, host and port; null for a local path or file:// URL. */
export interface GitRemote {
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
}

/** A remote no rule allows: one this module cannot be sure git reads as it does. */
const unknownRemote: GitRemote = { scheme: '', host: '', port: 0 };

export const gitRemoteOf = (gitUrl: string): GitRemote | null => {
  // a URL parser takes a backslash for a slash, git for part of the user name: `https://github.com\@10.0.0.1/` is 10.0.0.1 to git
  if (/[\\\s]/.test(gitUrl)) return unknownRemote;
  if (gitUrl.startsWith('/')) return null;
  const scp = scpLike.exec(gitUrl);
  if (scp) return { scheme: 'ssh:', host: scp[1]!.toLowerCase(), port: 22 };
  let url: URL;
  try {
    url = new URL(gitUrl);
  } catch {
    // not a URL GitUrl takes: a remote that no rule allows
    return unknownRemote;
  }
  if (url.protocol === 'file:') return null;
  return { scheme: url.protocol, host: url.hostname.toLowerCase(), port: url.port ? Number(url.port) : (defaultPorts[url.protocol] ?? 0) };
};

/**
 * The hosts non-admins may point a project at: the GitHub host (at its URL's port, and by ssh at
 * port 22) and the hosts the operator allows (`host`: at its scheme's default port; `host:port`: at
 * that port). Anything else would let a member make Gyre connect anywhere on its network.
 */
export interface GitHosts {
  readonly githubUrl: string;
  readonly allowed: ReadonlyArray<string>;
}

const allows = (hosts: GitHosts, r: GitRemote): boolean => {
  const github = new URL(hosts.githubUrl);
  const githubHost = github.hostname.toLowerCase();
  if (
    r.host === githubHost &&
    ((r.scheme === github.protocol && r.port === (github.port ? Number(github.port) : defaultPorts[github.protocol])) || (r.scheme === 'ssh:' && r.port === 22))
  )
    return true;
  return hosts.allowed.some((entry) => {
    const [host, port] = entry.toLowerCase().split(/:(?=\d+$)/);
    return host === r.host && (port === undefined ? r.port === defaultPorts[r.scheme] : Number(port) === r.port);
  });
};

/** Admins may use any git URL; others a URL on an allowed host (a local path never: that is Gyre's own disk). */
export const requireAllowedGitUrl = (by: Member, gitUrl: string, hosts: GitHosts): void => {
  if (by.isAdmin) return;
  const remote = gitRemoteOf(gitUrl);
  if (!remote)
    throw new ForbiddenError('only an admin may follow a repository by a local path or file:// URL: use a URL git clones over the network', 'LOCAL_REPOSITORY');
  if (!allows(hosts, remote)) {
    const github = new URL(hosts.githubUrl).host;
    throw new ForbiddenError(
      `git URLs must be on the GitHub host ${github}${hosts.allowed.length ? ` or a host an admin allows (${hosts.allowed.join(', ')})` : ''}: ask an admin to set this git URL or to add its host to GYRE_GIT_ALLOWED_HOSTS`,
      'GIT_HOST_NOT_ALLOWED',
    );
  }
};

import { z } from 'zod';
import { ValidationError, describeIssues } from '../errors.ts';
import { GitHubName } from '../github-name.ts';
import { uuidFrom } from '../ids.ts';

/**
 * CircleCI's slugs: `gh/<org>` for an organization, `gh/<org>/<repo>` for a project. The CLI and
 * older clients spell the provider `github`; both mean the same, and Gyre answers with `gh`.
 */
const provider = z
  .string()
  .transform((v) => v.toLowerCase())
  .pipe(z.enum(['gh', 'github']))
  .transform(() => 'gh' as const);
const RepoName = z.string().regex(/^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/, 'must be a GitHub repository name');

export interface OrgSlug {
  readonly slug: string;
  readonly org: string;
  /** Lower-cased: GitHub names compare case-insensitively. */
  readonly key: string;
}
export interface ProjectSlug extends OrgSlug {
  readonly repo: string;
  readonly orgSlug: string;
}

const parts = (raw: unknown, count: number, what: string, example: string): string[] => {
  const s = typeof raw === 'string' ? raw.trim() : '';
  const p = s.split('/');
  if (p.length !== count) throw new ValidationError(`invalid ${what}: must look like ${example}`);
  return p;
};
const check = <T>(schema: z.ZodType<T>, value: string, what: string): T => {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(`invalid ${what}: ${describeIssues(r.error.issues)}`);
  return r.data;
};

export const parseOrgSlug = (raw: unknown): OrgSlug => {
  const [vcs, org] = parts(raw, 2, 'organization slug', 'gh/<org>');
  check(provider, vcs!, 'organization slug provider (gh or github)');
  const name = check(GitHubName, org!, 'organization name');
  return { slug: `gh/${name}`, org: name, key: `gh/${name.toLowerCase()}` };
};

export const parseProjectSlug = (raw: unknown): ProjectSlug => {
  const [vcs, org, repo] = parts(raw, 3, 'project slug', 'gh/<org>/<repo>');
  check(provider, vcs!, 'project slug provider (gh or github)');
  const o = check(GitHubName, org!, 'organization name');
  const r = check(RepoName, repo!, 'repository name');
  return { slug: `gh/${o}/${r}`, org: o, repo: r, orgSlug: `gh/${o}`, key: `gh/${o.toLowerCase()}/${r.toLowerCase()}` };
};

/** `gh/org/repo` → `gh/org`: the organization a project belongs to. */
export const ownerSlugOf = (projectSlug: string): string => projectSlug.split('/').slice(0, 2).join('/');

/** Organizations have no aggregate of their own yet: an organization's id is derived from its slug, so it is stable. */
export const orgId = (key: string): string => uuidFrom(`gyre organization ${key}`);

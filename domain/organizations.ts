import { ForbiddenError } from './errors.ts';

/**
 * Someone acting on an organization's projects and contexts: their GitHub organizations and teams
 * (`org/team-slug`), as read from GitHub at their last login.
 */
export interface Member {
  readonly login: string;
  readonly isAdmin: boolean;
  readonly orgs: ReadonlyArray<string>;
  readonly teams: ReadonlyArray<string>;
}

/** `gh/acme` → `acme`, lower-cased. */
export const orgOf = (ownerSlug: string) => ownerSlug.split('/')[1]!.toLowerCase();

/** Only an organization's members, and admins, change its projects and contexts. */
export const requireOrgMember = (member: Member, ownerSlug: string): void => {
  if (member.isAdmin || member.orgs.some((o) => o.toLowerCase() === orgOf(ownerSlug))) return;
  throw new ForbiddenError(
    `${member.login} is not a member of the GitHub organization ${orgOf(ownerSlug)}: only its members and admins may change its projects and contexts (membership is read at sign-in)`,
    'NOT_ORG_MEMBER',
  );
};

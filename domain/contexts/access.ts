import { orgOf, type Member } from '../organizations.ts';

export type { Member };

/** A security group restriction: members of the owner organization's GitHub team `value` may use the context. */
export interface Restriction {
  readonly id: string;
  readonly type: 'group';
  /** The team's slug within the context's organization, lower-cased. */
  readonly value: string;
}

export type Access = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * The one rule for who may use a context (pipelines call it before a job gets the values): a context
 * without restrictions is open to everyone who may run the pipeline; a restricted one only to members
 * of one of its groups. Admins are not exempt: a job runs with the values of the groups its actor is in.
 */
export const mayUseContext = (restrictions: ReadonlyArray<Restriction>, ownerSlug: string, member: Member): Access => {
  if (restrictions.length === 0) return { allowed: true };
  const org = orgOf(ownerSlug);
  const teams = new Set(member.teams.map((t) => t.toLowerCase()));
  if (restrictions.some((r) => teams.has(`${org}/${r.value}`))) return { allowed: true };
  const groups = restrictions.map((r) => `${org}/${r.value}`).join(', ');
  return { allowed: false, reason: `${member.login} is in none of the groups this context is restricted to (${groups})` };
};

import { ValidationError } from '../errors.ts';

/** An audit action filter: an exact action (`user.create`) or a prefix ending in `.*` (`context.*`). */
export type ActionFilter = { readonly exact: string } | { readonly prefix: string };

const actionPattern = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

export const parseActionFilter = (raw: string): ActionFilter => {
  const value = raw.trim();
  if (value.endsWith('.*')) {
    const stem = value.slice(0, -2);
    if (actionPattern.test(stem)) return { prefix: `${stem}.` };
  } else if (actionPattern.test(value)) {
    return { exact: value };
  }
  throw new ValidationError(`invalid action filter "${raw}": use an action such as user.create, or a prefix such as context.*`);
};

export const parseActionFilters = (raw: ReadonlyArray<string> | undefined | null): ActionFilter[] => (raw ?? []).map(parseActionFilter);

/** True when no filter is given, or when one of them matches. */
export const matchesActions = (filters: ReadonlyArray<ActionFilter>, action: string): boolean =>
  filters.length === 0 || filters.some((f) => ('exact' in f ? f.exact === action : action.startsWith(f.prefix)));

/** A SQL LIKE pattern for a prefix, with LIKE's own wildcards escaped (`_` is common in action names). */
export const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

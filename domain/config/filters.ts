import type { Fail } from './parameters.ts';
import { wholeMatch } from './regex.ts';
import type { Path } from './problems.ts';
import { isRecord } from './values.ts';

/** One side of a filter: `only` and/or `ignore`, each a string, a `/regex/`, or a list of them. */
export interface FilterRule {
  readonly only?: ReadonlyArray<string>;
  readonly ignore?: ReadonlyArray<string>;
}
export interface Filters {
  readonly branches?: FilterRule;
  readonly tags?: FilterRule;
}

/** A `/regex/` matches the whole name; anything else is the name itself. */
const matcher = (pattern: string): ((name: string) => boolean) => {
  if (!/^\/(.*)\/$/s.test(pattern)) return (name) => name === pattern;
  const re = wholeMatch(pattern);
  if ('error' in re) throw new Error(re.error);
  return (name) => re.test(name);
};
const any = (patterns: ReadonlyArray<string> | undefined, name: string) => (patterns ?? []).some((p) => matcher(p)(name));

/** Reads `filters:`, checking every regex compiles. */
export const readFilters = (raw: unknown, path: Path, fail: Fail): Filters | undefined => {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) fail(path, 'filters must be a map with branches and/or tags');
  const out: Record<string, FilterRule> = {};
  for (const [side, rule] of Object.entries(raw)) {
    if (side !== 'branches' && side !== 'tags') fail([...path, side], `unknown filter ${side}: filters take branches and tags`);
    if (rule === null) continue;
    if (!isRecord(rule)) fail([...path, side], `${side} takes only and/or ignore`);
    const r: { only?: string[]; ignore?: string[] } = {};
    for (const [k, v] of Object.entries(rule)) {
      if (k !== 'only' && k !== 'ignore') fail([...path, side, k], `unknown key ${k}: ${side} takes only and ignore`);
      const list = (Array.isArray(v) ? v : [v]).map((x) => String(x));
      for (const p of list) {
        const re = /^\/(.*)\/$/s.test(p) ? wholeMatch(p) : null;
        if (re && 'error' in re) fail([...path, side, k], re.error);
      }
      r[k] = list;
    }
    out[side] = r;
  }
  return out;
};

/**
 * CircleCI's rules: on a branch, no branch filter means every branch, and `only` is checked before
 * `ignore`; on a tag, a job runs only when it has a tags filter that lets the tag through.
 */
export const runsFor = (filters: Filters | undefined, git: { branch?: string | null; tag?: string | null }): boolean => {
  if (git.tag) {
    const t = filters?.tags;
    if (!t) return false;
    if (t.only && !any(t.only, git.tag)) return false;
    return !any(t.ignore, git.tag);
  }
  const b = filters?.branches;
  const branch = git.branch ?? '';
  if (!b) return true;
  if (b.only && !any(b.only, branch)) return false;
  return !any(b.ignore, branch);
};

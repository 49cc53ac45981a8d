/**
 * Where stored files are named: `store_artifacts` (CircleCI: `destination` is the prefix added to the
 * artifact paths; without it, the path as given) and the paths `persist_to_workspace` may take.
 */

/** A path as a storage name: `\` read as `/`, no leading `~/`, `./` or `/`, no `.` or `..` segments, no doubled or trailing slashes. */
export const storageName = (path: string): string => {
  const segments = path
    .replace(/\\/g, '/')
    .replace(/^~(?=\/|$)/, '')
    .split('/');
  return segments.filter((s) => s !== '' && s !== '.' && s !== '..').join('/');
};

/** What `store_artifacts` found at its path: the file itself, or one file under the directory (its path relative to it). */
export type StoredFile = { kind: 'file' } | { kind: 'directory'; relative: string };

/**
 * The artifact name a stored file gets. A directory's `destination` replaces its path (`path: out`,
 * `destination: site` stores `out/a.html` as `site/a.html`); a file's `destination` is its name;
 * with no destination the path as given is kept (`~/out/a.html` → `out/a.html`).
 */
export const artifactName = (step: { path: string; destination: string | null }, found: StoredFile): string => {
  const prefix = storageName(step.destination ?? '') || storageName(step.path);
  if (found.kind === 'file') return prefix || 'artifact';
  const rest = storageName(found.relative);
  return prefix && rest ? `${prefix}/${rest}` : prefix || rest;
};

/** Go's `filepath.Match` patterns, as CircleCI reads workspace paths: `[` must close, `\` must escape something. */
const globProblem = (pattern: string): string | null => {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      if (i + 1 >= pattern.length) return 'ends with a lone "\\"';
      i++;
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) return 'has a "[" that is never closed';
      i = close;
    }
  }
  return null;
};

/**
 * Why a `persist_to_workspace` path cannot be used, or null: it is a file, directory or glob relative
 * to `root`, and must not leave it.
 */
export const workspacePathProblem = (path: string): string | null => {
  const p = path.trim();
  if (!p) return 'a workspace path is empty: name a file, directory or glob under root (`.` for all of it)';
  if (p.startsWith('/') || p.startsWith('~') || /^[A-Za-z]:[\\/]/.test(p)) return `${path} is absolute: workspace paths are relative to root`;
  if (p.replace(/\\/g, '/').split('/').includes('..')) return `${path} climbs out of root with "..": workspace paths stay under root`;
  const glob = globProblem(p);
  return glob ? `${path} is not a valid glob: it ${glob}` : null;
};

/** Why a `persist_to_workspace` root cannot be used, or null: any directory (absolute, `~`, or relative to the working directory). */
export const workspaceRootProblem = (root: string): string | null =>
  root.trim() ? null : 'persist_to_workspace needs a root: the directory its paths are relative to';

const segmentsOf = (path: string) => path.split('/').filter((s) => s !== '' && s !== '.');
const isGlob = (segment: string) => /[*?[\\]/.test(segment);
const literal = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** One segment of a Go `filepath.Match` pattern as a regular expression; null when it cannot be one. */
const segmentPattern = (pattern: string): RegExp | null => {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '\\' && i + 1 < pattern.length) source += literal(pattern[++i]!);
    else if (c === '[') {
      let j = i + 1;
      const negated = pattern[j] === '^';
      if (negated) j++;
      let ranges = '';
      // as in Go, a `]` first in the class is a character of it, not its end
      for (let first = true; j < pattern.length && (first || pattern[j] !== ']'); first = false) {
        const lo = pattern[j] === '\\' ? pattern[++j] : pattern[j];
        j++;
        if (pattern[j] === '-' && pattern[j + 1] !== ']' && j + 1 < pattern.length) {
          const hi = pattern[j + 1] === '\\' ? pattern[(j += 2)] : pattern[++j];
          j++;
          ranges += `${literal(lo ?? '')}-${literal(hi ?? '')}`;
        } else ranges += literal(lo ?? '');
      }
      if (j >= pattern.length) return null;
      source += `[${negated ? '^' : ''}${ranges}]`;
      i = j;
    } else source += literal(c);
  }
  try {
    return new RegExp(`^${source}$`, 's');
  } catch {
    return null;
  }
};

/**
 * Whether a `persist_to_workspace` path takes the file or directory named `name` (relative to root):
 * its segments match the name's first ones as Go's `filepath.Match` reads them (`*`, `?`, `[a-z]`,
 * `\` escapes; none crosses a `/`), so a matched directory brings everything under it; `.` takes all.
 */
export const workspaceSelects = (path: string, name: string): boolean => {
  const want = segmentsOf(path);
  const have = segmentsOf(name);
  if (want.length > have.length) return false;
  return want.every((segment, i) => (isGlob(segment) ? (segmentPattern(segment)?.test(have[i]!) ?? false) : segment === have[i]));
};

/** The directory under root a workspace path cannot reach outside of: its segments before the first glob (`` for root itself). */
export const workspacePrefix = (path: string): string => {
  const segments = segmentsOf(path);
  const glob = segments.findIndex(isGlob);
  return (glob < 0 ? segments : segments.slice(0, glob)).join('/');
};

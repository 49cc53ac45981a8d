/**
 * Where stored files are named: `store_artifacts` (CircleCI: `destination` is the prefix added to the
 * artifact paths; without it, the path as given) and the paths `persist_to_workspace` may take.
 */

/** A path as a storage name: `\` read as `/`, no leading `~/`, `./` or `/`, no `.` or `..` segments, no doubled or trailing slashes. */
export const storageName = (path: string): string => {
  const segments = path.replace(/\\/g, '/').replace(/^~(?=\/|$)/, '').split('/');
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

/** The app's addresses, pure: which page a path names, and where to go after signing in. */

/** Matches `path` against a pattern with `:name` segments and a trailing `*` (the rest, slashes included). */
export const match = (pattern: string, path: string): Record<string, string> | null => {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const part = p[i]!;
    if (part === '*') {
      params['*'] = s.slice(i).join('/');
      return params;
    }
    const seg = s[i];
    if (seg === undefined) return null;
    if (part.startsWith(':')) params[part.slice(1)] = seg;
    else if (part !== seg) return null;
  }
  return s.length === p.length ? params : null;
};

/** A path of this app to go on to after signing in: same-origin paths only. */
export const returnPath = (next: string | null): string =>
  next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-in') ? next : '/projects';

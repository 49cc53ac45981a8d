import type { AnchorHTMLAttributes, ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** The page's path, kept in the address bar (history API): links open pages without a reload. */
const listeners = new Set<() => void>();
export const navigate = (to: string, options: { replace?: boolean } = {}) => {
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
};
addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The current location, re-rendering on every navigation. */
export const useLocation = () => {
  const [, setRound] = useState(0);
  useEffect(() => {
    const l = () => setRound((r) => r + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return { path: decodeURI(location.pathname), search: new URLSearchParams(location.search) };
};

/** An anchor that opens a page of the app in place (a modified click still opens a new tab). */
export const Link = ({ href, children, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children: ComponentChildren }) => (
  <a
    {...rest}
    href={href}
    onClick={(e) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(href);
    }}
  >
    {children}
  </a>
);

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

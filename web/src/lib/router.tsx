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

/** A path as people read it; one that is not valid percent-encoding stays as it came. */
const decoded = (path: string) => {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
};

/** The current location, re-rendering on every navigation. */
export const useLocation = () => {
  const [, setRound] = useState(0);
  useEffect(() => {
    const l = () => setRound((r) => r + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return { path: decoded(location.pathname), search: new URLSearchParams(location.search) };
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

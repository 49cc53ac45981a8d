import type { FastifyRequest } from 'fastify';
import { ForbiddenError } from '../../domain/errors.ts';
import type { Auth } from './authenticate.ts';

type Request = Pick<FastifyRequest, 'protocol' | 'host' | 'headers'>;

/** Where people reach Gyre: the configured public URL, else what this request says (through a trusted proxy). */
export const ownOrigin = (publicUrl: string | undefined, req: Pick<FastifyRequest, 'protocol' | 'host'>): string =>
  publicUrl ? new URL(publicUrl).origin : `${req.protocol}://${req.host}`;

/** The page a browser request came from: its `Origin`, else the origin of its `Referer`; null when it names neither. */
export const requestOrigin = (headers: Request['headers']): string | null => {
  const origin = headers.origin;
  if (origin) return origin;
  const referer = headers.referer;
  if (!referer) return null;
  try {
    return new URL(referer).origin;
  } catch {
    return null;
  }
};

/** A browser sends the session cookie whichever site made the request; tokens travel in headers another site cannot set. */
export const signedInByCookie = (auth: Auth): boolean => auth.kind === 'user' && auth.sessionHash !== null;

/** Only these change nothing, so only these may come from another site's page. */
export const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD']);

export const crossSiteRequest = 'CROSS_SITE_REQUEST';

/** Refuses (403) a request that did not come from one of Gyre's own pages. */
export const assertSameOrigin = (publicUrl: string | undefined, req: Request): void => {
  const own = ownOrigin(publicUrl, req);
  const from = requestOrigin(req.headers);
  if (from === own) return;
  throw new ForbiddenError(
    from === null
      ? `a request signed in with the session cookie must come from a page of ${own}, and this one sent no Origin or Referer header; scripts and API clients send an API token in the Authorization header instead`
      : `a request signed in with the session cookie must come from a page of ${own}, not from ${from.slice(0, 100)}: cross-site requests are refused; scripts and API clients send an API token in the Authorization header instead`,
    crossSiteRequest,
  );
};

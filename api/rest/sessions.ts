import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseInput } from '../../domain/errors.ts';
import { endSession, signInWithToken } from '../../application/accounts.ts';
import { sessionCookieName, type SessionPolicy } from '../auth/authenticate.ts';
import { ownOrigin } from '../auth/origin.ts';
import { commandContext, requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';

export const loginLimit = { rateLimit: { max: 30, timeWindow: '1 minute' } };

/**
 * The session cookie, however the session started: scripts never read it, other sites' pages send it
 * only on a top-level GET, and the browser drops it when the session ends by age. Under https it is
 * `__Host-gyre_session` (sessionCookieName): Secure, Path=/ and no Domain, as that prefix requires.
 */
export const sessionCookieOptions = (origin: string, sessions: SessionPolicy) => ({
  path: '/',
  httpOnly: true,
  sameSite: 'lax' as const,
  secure: origin.startsWith('https:'),
  maxAge: Math.max(1, Math.floor(sessions.maxAgeMs / 1000)),
});

const tokenSignIn = z.object({ token: z.string().min(1).max(200) });

/** Browser sessions: signing in with an API token (GitHub sign-in is in github-login.ts) and signing out. */
export const registerSessions = (app: FastifyInstance, s: Services) => {
  const publicUrl = s.config.GYRE_PUBLIC_URL;

  // only Gyre's own sign-in page posts here: another site cannot sign a browser in to an account of its choosing
  app.post('/auth/token', { config: { ...loginLimit, ownPagesOnly: true } }, async (req, reply) => {
    const { token } = parseInput(tokenSignIn, req.body, 'sign-in: send {"token": "<API token>"}');
    const { session, user, tokenId } = await signInWithToken(s, commandContext(req.auth, requestInfo(req)), token, 'POST /auth/token');
    await s.tokenUsage.touch(tokenId);
    const origin = ownOrigin(publicUrl, req);
    return reply.setCookie(sessionCookieName(origin), session, sessionCookieOptions(origin, s.sessions)).send({ login: user.login });
  });

  // who is signed in, for the web UI to choose its pages: an answer for everyone, so a browser that is
  // signed out neither logs an error nor fills the audit log with refused reads
  app.get('/auth/session', async (req) =>
    req.auth.kind === 'user'
      ? { signedIn: true, login: req.auth.user.login, name: req.auth.user.name, isAdmin: req.auth.user.isAdmin, state: req.auth.user.state }
      : { signedIn: false },
  );
  app.post('/auth/logout', { config: loginLimit }, async (req, reply) => {
    if (req.auth.kind === 'user' && req.auth.sessionHash) {
      const { user, sessionHash } = req.auth;
      await endSession(s, commandContext(req.auth, requestInfo(req)), { id: user.id, login: user.login }, sessionHash);
    }
    const origin = ownOrigin(publicUrl, req);
    return reply
      .clearCookie(sessionCookieName(origin), { path: '/', secure: origin.startsWith('https:') })
      .status(204)
      .send();
  });
};

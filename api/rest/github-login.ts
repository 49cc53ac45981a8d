import oauth2, { type OAuth2Namespace } from '@fastify/oauth2';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GitHub } from '../../adapters/github/port.ts';
import { userOwner } from '../../adapters/encryption/port.ts';
import { mask } from '../../domain/secrets/secret-value.ts';
import { DomainError, GyreError, UnauthorizedError } from '../../domain/errors.ts';
import type { Account } from '../../domain/users/accounts.ts';
import { signInWithGitHub, startSession } from '../../application/accounts.ts';
import { sessionCookieName } from '../auth/authenticate.ts';
import { ownOrigin } from '../auth/origin.ts';
import { commandContext, requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';
import { loginLimit, sessionCookieOptions } from './sessions.ts';

declare module 'fastify' {
  interface FastifyInstance {
    githubOAuth2: OAuth2Namespace;
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const page = (reply: FastifyReply, status: number, title: string, text: string) =>
  reply
    .status(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html><head><meta charset="utf-8"><title>Gyre — ${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="/">Gyre</a></p></body></html>`,
    );

/**
 * Sign-in with GitHub or GitHub Enterprise (OAuth web flow). `state` is bound to the browser by a
 * cookie that @fastify/oauth2 sets and checks; the session is a random cookie whose hash is kept.
 */
export const registerGitHubLogin = async (app: FastifyInstance, s: Services, github: GitHub) => {
  const { GYRE_GITHUB_CLIENT_ID: clientId, GYRE_GITHUB_CLIENT_SECRET: clientSecret, GYRE_GITHUB_URL: githubUrl, GYRE_PUBLIC_URL: publicUrl } = s.config;
  const origin = (req: FastifyRequest) => ownOrigin(publicUrl, req);
  /**
   * Where GitHub sends the browser back: GYRE_PUBLIC_URL, else the address this server listens on;
   * never the request's Host header, which anyone may forge to have a code sent to their own site.
   */
  const callbackOrigin = (): string => {
    if (publicUrl) return new URL(publicUrl).origin;
    const bound = app.server.address();
    if (bound && typeof bound === 'object' && bound.address !== '0.0.0.0' && bound.address !== '::')
      return `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    throw new GyreError(
      'GitHub sign-in needs GYRE_PUBLIC_URL (the address people reach Gyre at) when Gyre listens on every address: set it and restart',
      'PUBLIC_URL_REQUIRED',
      503,
    );
  };

  if (!clientId || !clientSecret) {
    const notConfigured = async () => {
      throw new GyreError('GitHub sign-in is not configured: set GYRE_GITHUB_CLIENT_ID and GYRE_GITHUB_CLIENT_SECRET', 'GITHUB_NOT_CONFIGURED', 503);
    };
    app.get('/auth/github', { config: loginLimit }, notConfigured);
    app.get('/auth/github/callback', { config: loginLimit }, notConfigured);
    return;
  }

  await app.register(oauth2, {
    name: 'githubOAuth2',
    // following a repository registers a webhook and posts commit statuses with this token; private repositories need `repo`
    scope: ['read:user', 'read:org', 'admin:repo_hook', 'repo:status', ...(s.config.GYRE_GITHUB_PRIVATE_REPOS === 'true' ? ['repo'] : [])],
    credentials: {
      client: { id: clientId, secret: clientSecret },
      auth: { tokenHost: githubUrl, tokenPath: '/login/oauth/access_token', authorizePath: '/login/oauth/authorize' },
    },
    callbackUri: () => `${callbackOrigin()}/auth/github/callback`,
    cookie: { path: '/', httpOnly: true, sameSite: 'lax' },
  });

  app.get('/auth/github', { config: loginLimit }, async (req, reply) => {
    callbackOrigin();
    return reply.redirect(await app.githubOAuth2.generateAuthorizationUri(req, reply));
  });

  app.get('/auth/github/callback', { config: loginLimit }, async (req, reply) => {
    let accessToken: string;
    try {
      accessToken = (await app.githubOAuth2.getAccessTokenFromAuthorizationCodeFlow(req, reply)).token.access_token;
    } catch {
      throw new UnauthorizedError('GitHub sign-in failed: the state did not match this browser or GitHub refused the code; start again at /auth/github');
    }
    const who = await github.identity(accessToken);
    const context = commandContext(req.auth, requestInfo(req));
    const githubUser = { id: `github:${who.id}`, type: 'github_user', name: who.login };
    let account: Account;
    try {
      account = await signInWithGitHub(s, context, who);
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      await s.commands.refuse(
        e.code === 'ORG_MEMBERSHIP_REQUIRED' ? 'user.create' : 'user.logged_in',
        { reason: e.message, code: e.code, status: 403, operation: 'GET /auth/github/callback' },
        {
          context: { ...context, actor: githubUser },
          target: githubUser,
        },
      );
      return page(reply, 403, 'Sign-in refused', e.message);
    }
    if (account.state === 'SUSPENDED_NEW')
      return page(reply, 403, 'Waiting for approval', `The account of ${who.login} was created and waits for an admin to activate it.`);
    const githubToken = { sealed: await s.vault.seal(userOwner(account.userId), 'github token', accessToken), masked: mask(accessToken) };
    const session = await startSession(
      s,
      context,
      { id: account.userId, login: who.login },
      { orgs: who.orgs, teams: who.teams, method: 'github', githubToken },
    );
    return reply.setCookie(sessionCookieName(origin(req)), session, sessionCookieOptions(origin(req), s.sessions)).redirect('/');
  });
};

import type { FastifyInstance } from 'fastify';
import { page } from './github-login.ts';

/** `/`: who is signed in, or a way to sign in. The admin UI will live here. */
export const registerHome = (app: FastifyInstance) => {
  app.get('/', async (req, reply) =>
    req.auth.kind === 'user'
      ? page(reply, 200, 'Gyre', `Signed in as ${req.auth.user.login} (${req.auth.user.state.toLowerCase()}).`)
      : reply.type('text/html; charset=utf-8').send('<!doctype html><html><head><meta charset="utf-8"><title>Gyre</title></head><body><h1>Gyre</h1><p><a href="/auth/github">Sign in with GitHub</a></p></body></html>'),
  );
};

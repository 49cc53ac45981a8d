import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The pages of the web UI: the app answers each of these addresses (it reads all it shows through GraphQL). */
export const webUiPaths = ['/', '/sign-in', '/projects', '/projects/*', '/contexts/*', '/pipelines/*', '/jobs/*', '/tokens', '/admin/*'] as const;

/**
 * No script but the app's own files, no inline script or style, no framing, nothing fetched from
 * elsewhere: a stored page cannot run in Gyre's origin, nor Gyre's pages in another's.
 */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Where `vite build` put the app: `dist/web` of the checkout, whether this runs from the sources or from `dist/`. */
const builtApp = (): string | null => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      const web = join(dir, 'dist', 'web');
      return existsSync(join(web, 'index.html')) ? web : null;
    }
  }
  return null;
};

/**
 * Serves the web UI (web/, built by the set-up step): its hashed scripts and styles under /assets/,
 * cached for good, and its page at every UI address, never cached, under a strict CSP.
 */
export const registerWebUi = async (app: FastifyInstance) => {
  const root = builtApp();
  const guard = (reply: FastifyReply) =>
    reply.header('Content-Security-Policy', contentSecurityPolicy).header('X-Content-Type-Options', 'nosniff').header('Referrer-Policy', 'same-origin');
  if (!root) {
    const missing = async (_req: unknown, reply: FastifyReply) =>
      guard(reply)
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The web UI is not built: run `npm start` (or `npx vite build --config web/vite.config.ts`).');
    for (const path of webUiPaths) app.get(path, missing);
    return;
  }
  const index = readFileSync(join(root, 'index.html'));
  await app.register(fastifyStatic, {
    root: join(root, 'assets'),
    prefix: '/assets/',
    immutable: true,
    maxAge: '365d',
    index: false,
    wildcard: true,
    setHeaders: (res) => {
      res.header('Content-Security-Policy', contentSecurityPolicy);
      res.header('X-Content-Type-Options', 'nosniff');
    },
  });
  app.get('/favicon.svg', async (_req, reply) =>
    guard(reply)
      .header('Cache-Control', 'public, max-age=86400')
      .type('image/svg+xml')
      .send(readFileSync(join(root, 'favicon.svg'))),
  );
  const page = async (_req: unknown, reply: FastifyReply) => guard(reply).header('Cache-Control', 'no-cache').type('text/html; charset=utf-8').send(index);
  for (const path of webUiPaths) app.get(path, page);
};

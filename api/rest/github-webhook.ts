import type { FastifyInstance } from 'fastify';
import { GyreError, UnauthorizedError, ValidationError } from '../../domain/errors.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import { memberByLogin, triggerPipeline } from '../pipelines.ts';
import { findProject } from '../projects.ts';
import { requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';

interface Push {
  ref?: string;
  after?: string;
  deleted?: boolean;
  repository?: { full_name?: string };
  sender?: { login?: string; id?: number };
}

/**
 * GitHub's push webhook: `X-Hub-Signature-256` is checked against the project's webhook secret over
 * the body exactly as sent; a bad one is refused with 401 and recorded. A push of a branch or tag
 * starts a pipeline at the pushed revision.
 */
export const registerGitHubWebhook = async (app: FastifyInstance, s: Services) => {
  await app.register(async (scope) => {
    // the signature covers the raw bytes: keep them
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/hooks/github', async (req, reply) => {
      const raw = req.body as Buffer;
      if (!Buffer.isBuffer(raw)) throw new ValidationError('send the delivery as application/json');
      const event = String(req.headers['x-github-event'] ?? '');
      let payload: Push;
      try {
        payload = JSON.parse(raw.toString('utf8')) as Push;
      } catch {
        throw new ValidationError('the delivery is not valid JSON');
      }
      const slug = parseProjectSlug(`gh/${payload.repository?.full_name ?? ''}`);
      const project = await findProject(s, slug.slug);
      const sender = { id: `github:${payload.sender?.id ?? 'unknown'}`, type: 'github_user', name: payload.sender?.login ?? 'unknown' };
      const context = { actor: sender, request: requestInfo(req) };
      const signature = req.headers['x-hub-signature-256'];
      if (!(await s.jobSecrets.webhookSignatureValid(project.slug, raw, Array.isArray(signature) ? signature[0] : signature))) {
        const refusal = new UnauthorizedError(`the delivery's X-Hub-Signature-256 does not match ${project.slug}'s webhook secret: check the secret in GitHub and in the project settings`);
        await s.commands.refuse('pipeline.create', { reason: refusal.message, code: refusal.code, status: 401, operation: 'POST /hooks/github' }, { context, target: { id: project.id, type: 'project', name: project.slug } });
        throw refusal;
      }
      if (event === 'ping') return { message: 'pong' };
      if (event !== 'push') return reply.status(202).send({ message: `ignored: Gyre starts pipelines on push, not ${event}` });
      if (payload.deleted) return reply.status(202).send({ message: 'ignored: a deleted ref' });
      const m = /^refs\/(heads|tags)\/(.+)$/.exec(payload.ref ?? '');
      if (!m) throw new ValidationError('a push names refs/heads/<branch> or refs/tags/<tag>');
      const by = await memberByLogin(s, payload.sender?.login ?? 'unknown');
      try {
        const p = await triggerPipeline(s, context, by, { slug: project.slug, ...(m[1] === 'heads' ? { branch: m[2] } : { tag: m[2] }), revision: payload.after, type: 'webhook' });
        return reply.status(201).send({ id: p.id, number: p.number, state: p.state });
      } catch (e) {
        if (e instanceof GyreError && e.status < 500) await s.commands.refuse('pipeline.create', { reason: e.message, code: e.code, status: e.status, operation: 'POST /hooks/github' }, { context });
        throw e;
      }
    });
  });
};

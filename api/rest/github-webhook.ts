import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandContext } from '../../domain/events/envelope.ts';
import { GyreError, UnauthorizedError, ValidationError } from '../../domain/errors.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import { memberByLogin } from '../../application/members.ts';
import { triggerPipeline } from '../../application/pipelines.ts';
import { findProject } from '../../application/projects.ts';
import { pipelineByDelivery } from '../../projections/pipelines.ts';
import { projectFollow } from '../../projections/project-follows.ts';
import { requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';

/** A refusal that knows who GitHub says sent the delivery. */
class Refused extends GyreError {
  constructor(
    cause: GyreError,
    readonly context: CommandContext,
  ) {
    super(cause.message, cause.code, cause.status);
  }
}

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
  const deliver = async (req: FastifyRequest, reply: FastifyReply, base: CommandContext) => {
    const raw = req.body as Buffer;
    if (!Buffer.isBuffer(raw)) throw new ValidationError('send the delivery as application/json');
    const event = String(req.headers['x-github-event'] ?? '');
    let payload: Push;
    try {
      payload = JSON.parse(raw.toString('utf8')) as Push;
    } catch {
      throw new ValidationError('the delivery is not valid JSON');
    }
    // until the signature holds, nothing the delivery says is believed, and an unknown repository looks like a bad signature
    const forged = new UnauthorizedError("the delivery's X-Hub-Signature-256 does not match the webhook secret of a project Gyre follows: check the secret in GitHub and in the project settings");
    const project = await findProject(s, parseProjectSlug(`gh/${payload.repository?.full_name ?? ''}`).slug).catch((e: unknown) => {
      if (e instanceof GyreError && e.status < 500) throw forged;
      throw e;
    });
    const signature = req.headers['x-hub-signature-256'];
    if (!(await s.jobSecrets.webhookSignatureValid(project.slug, raw, Array.isArray(signature) ? signature[0] : signature))) throw forged;
    const context = { ...base, actor: { id: `github:${payload.sender?.id ?? 'unknown'}`, type: 'github_user', name: payload.sender?.login ?? 'unknown' } };
    const delivery = String(req.headers['x-github-delivery'] ?? '').slice(0, 100) || null;
    const earlier = delivery ? await pipelineByDelivery(s.db, delivery) : undefined;
    if (earlier) return { message: 'this delivery has already started a pipeline', id: earlier.id, number: earlier.number };
    if (event === 'ping') return { message: 'pong' };
    if (!(await projectFollow(s.db, project.id)).followed) return reply.status(202).send({ message: `ignored: ${project.slug} is not followed; follow it again with createProject` });
    if (event !== 'push') return reply.status(202).send({ message: `ignored: Gyre starts pipelines on push, not ${event}` });
    if (payload.deleted) return reply.status(202).send({ message: 'ignored: a deleted ref' });
    const m = /^refs\/(heads|tags)\/(.+)$/.exec(payload.ref ?? '');
    if (!m) throw new Refused(new ValidationError('a push names refs/heads/<branch> or refs/tags/<tag>'), context);
    const by = await memberByLogin(s, payload.sender?.login ?? 'unknown');
    try {
      const p = await triggerPipeline(s, context, by, { slug: project.slug, ...(m[1] === 'heads' ? { branch: m[2] } : { tag: m[2] }), revision: payload.after, type: 'webhook', deliveryId: delivery });
      return reply.status(201).send({ id: p.id, number: p.number, state: p.state });
    } catch (e) {
      throw e instanceof GyreError ? new Refused(e, context) : e;
    }
  };

  await app.register(async (scope) => {
    // the signature covers the raw bytes: keep them
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    // GitHub sends pushes of up to 25 MB
    scope.post('/hooks/github', { bodyLimit: 25 * 1024 * 1024 }, async (req, reply) => {
      const context = { actor: { id: 'github', type: 'github_webhook', name: 'GitHub' }, request: requestInfo(req) };
      try {
        return await deliver(req, reply, context);
      } catch (e) {
        // every refused delivery is audited, whatever refused it
        if (e instanceof GyreError && e.status < 500) await s.commands.refuse('pipeline.create', { reason: e.message, code: e.code, status: e.status, operation: 'POST /hooks/github' }, { context: e instanceof Refused ? e.context : context });
        throw e;
      }
    });
  });
};

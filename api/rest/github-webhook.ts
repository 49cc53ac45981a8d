import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandContext } from '../../domain/events/envelope.ts';
import { GyreError, UnauthorizedError, ValidationError } from '../../domain/errors.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import { findProject } from '../../application/projects.ts';
import { receiveGitHubDelivery } from '../../application/pull-requests.ts';
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

/** What the route reads of a delivery before its signature holds (the rest is the use case's to read). */
interface Delivery {
  repository?: { full_name?: string };
  sender?: { login?: string; id?: number };
}

/**
 * GitHub's push and pull_request webhook: `X-Hub-Signature-256` is checked against the project's
 * webhook secret over the body exactly as sent; a bad one is refused with 401 and recorded. What a
 * genuine delivery starts is `receiveGitHubDelivery`'s (application/pull-requests.ts): a pipeline
 * started answers 201, one already built for it 200, a delivery that starts nothing 202. Every
 * refusal is audited, naming who GitHub says sent it.
 */
export const registerGitHubWebhook = async (app: FastifyInstance, s: Services, now: () => number = Date.now) => {
  const deliver = async (req: FastifyRequest, reply: FastifyReply, base: CommandContext) => {
    const raw = req.body as Buffer;
    if (!Buffer.isBuffer(raw)) throw new ValidationError('send the delivery as application/json');
    let payload: Delivery;
    try {
      payload = JSON.parse(raw.toString('utf8')) as Delivery;
    } catch {
      throw new ValidationError('the delivery is not valid JSON');
    }
    // until the signature holds, nothing the delivery says is believed, and an unknown repository looks like a bad signature
    const forged = new UnauthorizedError(
      "the delivery's X-Hub-Signature-256 does not match the webhook secret of a project Gyre follows: check the secret in GitHub and in the project settings",
    );
    const project = await findProject(s, parseProjectSlug(`gh/${payload?.repository?.full_name ?? ''}`).slug).catch((e: unknown) => {
      if (e instanceof GyreError && e.status < 500) throw forged;
      throw e;
    });
    const signature = req.headers['x-hub-signature-256'];
    if (!(await s.jobSecrets.webhookSignatureValid(project.slug, raw, Array.isArray(signature) ? signature[0] : signature))) throw forged;
    const context = { ...base, actor: { id: `github:${payload?.sender?.id ?? 'unknown'}`, type: 'github_user', name: payload?.sender?.login ?? 'unknown' } };
    const deliveryId = String(req.headers['x-github-delivery'] ?? '').slice(0, 100) || null;
    const outcome = await receiveGitHubDelivery(s, context, { project, event: String(req.headers['x-github-event'] ?? ''), payload, deliveryId }, now).catch(
      (e: unknown) => {
        throw e instanceof GyreError ? new Refused(e, context) : e;
      },
    );
    switch (outcome.kind) {
      case 'started':
        return reply.status(201).send({ id: outcome.pipeline.id, number: outcome.pipeline.number, state: outcome.pipeline.state });
      case 'built':
        return { message: outcome.message, id: outcome.pipeline.id, number: outcome.pipeline.number };
      case 'ignored':
        return reply.status(202).send({ message: outcome.message });
      case 'pong':
        return { message: 'pong' };
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
        if (e instanceof GyreError && e.status < 500)
          await s.commands.refuse(
            'pipeline.create',
            { reason: e.message, code: e.code, status: e.status, operation: 'POST /hooks/github' },
            { context: e instanceof Refused ? e.context : context },
          );
        throw e;
      }
    });
  });
};

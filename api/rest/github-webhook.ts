import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandContext } from '../../domain/events/envelope.ts';
import { GyreError, ValidationError } from '../../domain/errors.ts';
import { receiveGitHubDelivery } from '../../application/pull-requests.ts';
import type { ProjectRow } from '../../projections/projects.ts';
import { forgedDelivery, projectOfDelivery, type DeliveryAddress } from '../../application/webhook-deliveries.ts';
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

/** What the route reads of a delivery once its signature holds (the rest is the use case's to read). */
interface Delivery {
  sender?: { login?: string; id?: number };
}

/** GitHub sends deliveries of up to 25 MB. */
const DELIVERY_LIMIT_BYTES = 25 * 1024 * 1024;
/** The most of a refused delivery's unread body that is drained (and dropped) to keep its connection. */
const DRAINED_BYTES = 1024 * 1024;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * GitHub's push and pull_request webhook. The project (and so its secret) is found before the body is
 * read: at `/hooks/github` by the webhook Gyre registered when following it (`X-GitHub-Hook-ID`),
 * at `/hooks/github/{vcs}/{org}/{repo}` by its slug (a webhook set up by hand); a delivery addressed
 * to no project is refused with its body unread. `X-Hub-Signature-256`
 * is then checked over the body's bytes exactly as sent, and only a body whose signature holds is
 * parsed; a bad one is refused with 401 and recorded. What a genuine delivery starts is
 * `receiveGitHubDelivery`'s (application/pull-requests.ts): a pipeline started answers 201, one
 * already built for it 200, the same signed body received before 200, a delivery that starts nothing
 * 202. Every refusal is audited, naming who GitHub says sent it once that can be believed.
 */
export const registerGitHubWebhook = async (app: FastifyInstance, s: Services, now: () => number = Date.now) => {
  /** Each delivery's project, found before its body is read. */
  const projects = new WeakMap<FastifyRequest, ProjectRow>();

  const deliver = async (req: FastifyRequest, reply: FastifyReply, base: CommandContext, project: ProjectRow) => {
    const raw = req.body;
    if (!Buffer.isBuffer(raw)) throw new ValidationError('send the delivery as application/json');
    if (!(await s.jobSecrets.webhookSignatureValid(project.slug, raw, header(req, 'x-hub-signature-256')))) throw forgedDelivery();
    let payload: Delivery;
    try {
      payload = JSON.parse(raw.toString('utf8')) as Delivery;
    } catch {
      throw new ValidationError('the delivery is not valid JSON');
    }
    const sender = payload?.sender;
    const context = { ...base, actor: { id: `github:${sender?.id ?? 'unknown'}`, type: 'github_user', name: sender?.login ?? 'unknown' } };
    const deliveryId = String(header(req, 'x-github-delivery') ?? '').slice(0, 100) || null;
    const digest = createHash('sha256').update(raw).digest('hex');
    const outcome = await receiveGitHubDelivery(
      s,
      context,
      { project, event: String(header(req, 'x-github-event') ?? ''), payload, deliveryId, digest },
      now,
    ).catch((e: unknown) => {
      throw e instanceof GyreError ? new Refused(e, context) : e;
    });
    switch (outcome.kind) {
      case 'started':
        return reply.status(201).send({ id: outcome.pipeline.id, number: outcome.pipeline.number, state: outcome.pipeline.state });
      case 'built':
        return { message: outcome.message, id: outcome.pipeline.id, number: outcome.pipeline.number };
      case 'replayed':
        return { message: outcome.message, ...(outcome.pipeline ? { id: outcome.pipeline.id, number: outcome.pipeline.number } : {}) };
      case 'ignored':
        return reply.status(202).send({ message: outcome.message });
      case 'pong':
        return { message: 'pong' };
    }
  };

  await app.register(async (scope) => {
    // the signature covers the raw bytes: keep them, and parse them only once it holds
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: DELIVERY_LIMIT_BYTES }, (_req, body, done) => done(null, body));
    const route = (url: string, address: (req: FastifyRequest) => DeliveryAddress) => {
      const contextOf = (req: FastifyRequest): CommandContext => ({
        actor: { id: 'github', type: 'github_webhook', name: 'GitHub' },
        request: requestInfo(req),
      });
      // every refused delivery is audited, whatever refused it
      const refused = async (e: unknown, context: CommandContext) => {
        if (e instanceof GyreError && e.status < 500)
          await s.commands.refuse(
            'pipeline.create',
            { reason: e.message, code: e.code, status: e.status, operation: `POST ${url}` },
            { context: e instanceof Refused ? e.context : context },
          );
        return e;
      };
      scope.post(
        url,
        {
          bodyLimit: DELIVERY_LIMIT_BYTES,
          // the project is found before the body is read: a delivery addressed to none is refused unread
          onRequest: async (req, reply) => {
            try {
              projects.set(req, await projectOfDelivery(s, address(req)));
            } catch (e) {
              // Node reads off and drops a small unread body, keeping the connection; a larger one (or one of
              // unknown length) is left unread, and the connection ends after the answer
              if (!(Number(header(req, 'content-length')) <= DRAINED_BYTES)) reply.header('connection', 'close');
              throw await refused(e, contextOf(req));
            }
          },
        },
        async (req, reply) => {
          const context = contextOf(req);
          try {
            const project = projects.get(req);
            if (!project) throw new Error('the delivery reached its handler with no project found for it');
            return await deliver(req, reply, context, project);
          } catch (e) {
            throw await refused(e, context);
          }
        },
      );
    };
    route('/hooks/github', (req) => ({ hookId: header(req, 'x-github-hook-id'), targetType: header(req, 'x-github-hook-installation-target-type') }));
    route('/hooks/github/:vcs/:org/:repo', (req) => {
      const p = req.params as { vcs: string; org: string; repo: string };
      return { slug: `${p.vcs}/${p.org}/${p.repo}` };
    });
  });
};

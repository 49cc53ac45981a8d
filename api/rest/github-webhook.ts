import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandContext } from '../../domain/events/envelope.ts';
import { GyreError, ValidationError } from '../../domain/errors.ts';
import { receiveGitHubDelivery } from '../../application/pull-requests.ts';
import type { ProjectRow } from '../../projections/projects.ts';
import { createDeliveryBodies, DeliveriesBusyError, forgedDelivery, projectOfDelivery, type DeliveryAddress } from '../../application/webhook-deliveries.ts';
import { requestError } from '../errors.ts';
import { requestInfo } from '../request-context.ts';
import { closeAfterAnswer } from './lingering-close.ts';
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
/** How long a delivery refused for the bodies held at once is asked to wait before it is sent again (seconds). */
const RETRY_AFTER_SECONDS = 10;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * GitHub's push and pull_request webhook. The project (and so its secret) is found before the body is
 * read: at `/hooks/github` by the webhook Gyre registered when following it (`X-GitHub-Hook-ID`),
 * at `/hooks/github/{vcs}/{org}/{repo}` by its slug (a webhook set up by hand); a delivery addressed
 * to no project is refused with its body unread. Each body holds the bytes of it that have arrived, and
 * one whose bytes would take the bodies held at once over `GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT` is read
 * no further and refused (503, `Retry-After`). `X-Hub-Signature-256`
 * is then checked over the body's bytes exactly as sent, and only a body whose signature holds is
 * parsed; a bad one is refused with 401 and recorded. What a genuine delivery starts is
 * `receiveGitHubDelivery`'s (application/pull-requests.ts): a pipeline started answers 201, one
 * already built for it 200, the same signed body received before 200, a delivery that starts nothing
 * 202. Every refusal is audited once, naming who GitHub says sent it once that can be believed.
 */
export const registerGitHubWebhook = async (app: FastifyInstance, s: Services, now: () => number = Date.now) => {
  /** Each delivery's project, found before its body is read. */
  const deliveries = new WeakMap<FastifyRequest, ProjectRow>();
  const bodies = createDeliveryBodies(s.config.GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT);
  const contextOf = (req: FastifyRequest): CommandContext => ({
    actor: { id: 'github', type: 'github_webhook', name: 'GitHub' },
    request: requestInfo(req),
  });

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
    // the signature covers the raw bytes: keep them, and parse them only once it holds; any other type is refused unread (415)
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: DELIVERY_LIMIT_BYTES }, (_req, body, done) => done(null, body));
    // every refused delivery is audited once, whatever refused it: the route, or fastify before it (a body too large, or not JSON)
    scope.setErrorHandler(async (raw, req, reply) => {
      const e = requestError(raw);
      if (e instanceof GyreError && (e.status < 500 || e instanceof DeliveriesBusyError))
        await s.commands.refuse(
          'pipeline.create',
          { reason: e.message, code: e.code, status: e.status, operation: `POST ${req.routeOptions.url}` },
          { context: e instanceof Refused ? e.context : contextOf(req) },
        );
      if (e instanceof DeliveriesBusyError) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      // Node reads off and drops a small unread body, keeping the connection; a larger one (or one of
      // unknown length) is left unread, and the connection ends after the answer
      if (!req.raw.complete && !(Number(header(req, 'content-length')) <= DRAINED_BYTES)) closeAfterAnswer(reply);
      // the app's error handler answers it
      throw e;
    });
    const route = (url: string, address: (req: FastifyRequest) => DeliveryAddress) =>
      scope.post(
        url,
        {
          bodyLimit: DELIVERY_LIMIT_BYTES,
          // the project is found before the body is read: a delivery addressed to none is refused unread (a body over
          // the limit is refused unread too, by fastify: 413)
          onRequest: async (req) => {
            deliveries.set(req, await projectOfDelivery(s, address(req)));
          },
          // the body's bytes are held as they arrive: one that would take the bytes in flight over their bound is read no
          // further and refused (503). One still arriving after GYRE_WEBHOOK_BODY_TIMEOUT_MS is not GitHub's (it gives up
          // after 10 s), and would keep what it sent held: it is refused (408). Either way the connection ends
          preParsing: async (_req, reply, payload) => {
            const held = bodies.hold();
            // given back when the request ends, however it ends: answered, failed, or left by its sender
            if (reply.raw.closed) held.release();
            else reply.raw.once('close', () => held.release());
            const stop = () => {
              payload.unpipe(counted);
              closeAfterAnswer(reply);
            };
            const counted = new Transform({
              transform(chunk: Buffer, _encoding, next) {
                try {
                  held.arrived(chunk.length);
                } catch (e) {
                  stop();
                  return next(e as Error);
                }
                next(null, chunk);
              },
            });
            const ms = s.config.GYRE_WEBHOOK_BODY_TIMEOUT_MS;
            const timer = setTimeout(() => {
              if (reply.sent || reply.raw.closed) return;
              stop();
              counted.destroy(new GyreError(`the delivery's body did not arrive within ${ms} ms (GYRE_WEBHOOK_BODY_TIMEOUT_MS)`, 'WEBHOOK_BODY_TIMEOUT', 408));
            }, ms);
            counted.once('close', () => clearTimeout(timer));
            reply.raw.once('close', () => clearTimeout(timer));
            // the parser listens for errors while it reads; once it stopped (a body too large), one must not end the process
            counted.on('error', () => undefined);
            payload.once('error', (e) => counted.destroy(e));
            return payload.pipe(counted);
          },
        },
        async (req, reply) => {
          const project = deliveries.get(req);
          if (!project) throw new Error('the delivery reached its handler with no project found for it');
          return deliver(req, reply, contextOf(req), project);
        },
      );
    route('/hooks/github', (req) => ({ hookId: header(req, 'x-github-hook-id'), targetType: header(req, 'x-github-hook-installation-target-type') }));
    route('/hooks/github/:vcs/:org/:repo', (req) => {
      const p = req.params as { vcs: string; org: string; repo: string };
      return { slug: `${p.vcs}/${p.org}/${p.repo}` };
    });
  });
};

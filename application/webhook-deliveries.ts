import { randomUUID } from 'node:crypto';
import { GyreError, UnauthorizedError, ValidationError } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import {
  webhookDeliveryDecider,
  webhookDeliveryStream,
  webhookDeliveryTarget,
  type WebhookDeliveryEvent,
  type WebhookDeliveryReceipt,
} from '../domain/pipelines/webhook-delivery.ts';
import { pipelineByDelivery, type PipelineRow } from '../projections/pipelines.ts';
import { projectIdOfHook } from '../projections/project-follows.ts';
import { projectById, type ProjectRow } from '../projections/projects.ts';
import type { Reads, UseCases, WithStore } from './dependencies.ts';
import { findProject } from './projects.ts';

/**
 * Where a GitHub delivery is for, told without reading its body (nothing in it is believed before
 * its signature holds, and the signature needs the project's secret): the webhook Gyre registered
 * (GitHub's `X-GitHub-Hook-ID`, with the kind of thing it was made on, `X-GitHub-Hook-Installation-Target-Type`),
 * or the project's slug in the path of a webhook set up by hand.
 */
export type DeliveryAddress = { readonly hookId: string | undefined; readonly targetType: string | undefined } | { readonly slug: string };

/** An unknown hook or project answers as a bad signature does: who may not sign is not told which projects exist. */
export const forgedDelivery = () =>
  new UnauthorizedError(
    "the delivery's X-Hub-Signature-256 does not match the webhook secret of a project Gyre follows: check the secret in GitHub and in the project settings",
    'WEBHOOK_SIGNATURE_INVALID',
  );

/** The project a delivery is addressed to; a delivery that names none is refused, and its body is never read. */
export const projectOfDelivery = async (s: Reads, to: DeliveryAddress): Promise<ProjectRow> => {
  if ('slug' in to)
    return findProject(s, to.slug).catch((e: unknown) => {
      throw e instanceof GyreError && e.status === 404 ? forgedDelivery() : e;
    });
  if (to.hookId === undefined)
    throw new ValidationError(
      'the delivery names no webhook Gyre registered (X-GitHub-Hook-ID): point a webhook set up by hand at /hooks/github/<vcs>/<org>/<repo>, the project it is for',
    );
  if (!/^[1-9][0-9]{0,17}$/.test(to.hookId)) throw new ValidationError('X-GitHub-Hook-ID must be the webhook id GitHub sends (digits)');
  // Gyre registers repository webhooks only; GitHub names the kind on every delivery, older servers may not
  if (to.targetType !== undefined && to.targetType.toLowerCase() !== 'repository') throw forgedDelivery();
  const projectId = await projectIdOfHook(s.db, Number(to.hookId));
  const project = projectId === undefined ? undefined : await projectById(s.db, projectId);
  if (!project) throw forgedDelivery();
  return project;
};

/** What one delivery's body holds of the bytes in flight: the bytes that have arrived, until its request ends. */
export interface HeldBody {
  /** `bytes` more of the body arrived; throws `DeliveriesBusyError` (and holds none of them) if they would take the total over the bound. */
  arrived(bytes: number): void;
  /** Gives all the body's bytes back; once, however the request ended. */
  release(): void;
}

/** The bodies held at once would go over their bound: the delivery is refused, and may be sent again in a moment. */
export class DeliveriesBusyError extends GyreError {
  constructor(limit: number) {
    super(
      `Gyre is holding as many webhook delivery bodies as it takes at once (${limit} bytes, GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT): send the delivery again in a moment`,
      'WEBHOOK_DELIVERIES_BUSY',
      503,
    );
  }
}

/**
 * The bytes of delivery bodies held at once, over all deliveries (a body is held whole: its signature
 * covers it). Each body holds the bytes that have arrived, not the length it declares, so a connection
 * that sends nothing holds nothing; a chunk that would take the total over `limit` refuses its
 * delivery, so N deliveries at once cost at most `limit`, not N × 25 MB.
 */
export const createDeliveryBodies = (limit: number) => {
  let held = 0;
  return {
    hold(): HeldBody {
      let mine = 0;
      let released = false;
      return {
        arrived(bytes) {
          if (released) return;
          if (held + bytes > limit) throw new DeliveriesBusyError(limit);
          held += bytes;
          mine += bytes;
        },
        release() {
          held -= mine;
          mine = 0;
          released = true;
        },
      };
    },
  };
};

/** A delivery received before, by its signed body: what the first one started, if it was a pipeline. */
export type Replay = { readonly message: string; readonly pipeline: PipelineRow | undefined };

/**
 * Handles a genuine delivery once per signed body (`digest`, its SHA-256): the first appends a receipt
 * on the body's stream, and a body received before (the receipt stands) starts nothing and answers as
 * a replay. A delivery whose handling fails releases its receipt, so GitHub's redelivery is handled.
 */
export const receiveOnce = async <T>(
  s: UseCases & WithStore,
  context: CommandContext,
  d: { readonly project: ProjectRow; readonly digest: string; readonly event: string; readonly deliveryId: string | null },
  handle: () => Promise<T>,
): Promise<T | Replay> => {
  const receipt: WebhookDeliveryReceipt = {
    receiptId: randomUUID(),
    projectId: d.project.id,
    projectSlug: d.project.slug,
    digest: d.digest,
    event: d.event.slice(0, 100),
    deliveryId: d.deliveryId,
  };
  const stream = webhookDeliveryStream(d.project.id, d.digest);
  const target = webhookDeliveryTarget(receipt);
  const received = await s.commands.execute({
    stream,
    decider: webhookDeliveryDecider,
    lastEventOnly: true,
    command: { type: 'receive', receipt },
    context,
    target,
  });
  if (received.events.length === 0) {
    const first = (await s.store.readLast(stream)) as unknown as WebhookDeliveryEvent | undefined;
    const firstDelivery = first?.type === 'webhook_delivery.receive' ? first.data.deliveryId : null;
    return {
      message: 'this delivery was received before (the same signed body): it starts nothing new',
      pipeline: firstDelivery ? await pipelineByDelivery(s.db, firstDelivery) : undefined,
    };
  }
  try {
    return await handle();
  } catch (e) {
    await s.commands
      .execute({ stream, decider: webhookDeliveryDecider, lastEventOnly: true, command: { type: 'release', receipt }, context, target })
      .catch(() => undefined);
    throw e;
  }
};

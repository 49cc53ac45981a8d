import { z } from 'zod';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * A genuine webhook delivery told once: one stream per (project, SHA-256 of the signed body), so the
 * same signed body sent again, under whatever `X-GitHub-Delivery` (which the signature does not
 * cover), finds it received and starts nothing. Of two servers told at once, one appends the receipt
 * and the other meets its revision. A receipt whose delivery could not be handled is released, so
 * GitHub's redelivery of it is handled anew.
 */
export const webhookDeliveryStream = (projectId: string, digest: string) => `webhook-delivery-${projectId}-${digest}`;
export const webhookDeliveryTarget = (r: { projectId: string; projectSlug: string; digest: string }) => ({
  id: `${r.projectId}:${r.digest}`,
  type: 'webhook_delivery',
  name: `${r.projectSlug} ${r.digest.slice(0, 12)}`,
});

const receipt = {
  receiptId: z.string(),
  projectId: z.string(),
  projectSlug: z.string(),
  /** SHA-256 (hex) of the delivery's body as signed. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
};
export const webhookDeliveryReceived = defineEvent(
  'webhook_delivery.receive',
  z.object({ ...receipt, event: z.string().max(100), deliveryId: z.string().max(100).nullable() }),
  { publicFields: ['receiptId', 'projectId', 'projectSlug', 'digest', 'event', 'deliveryId'] },
);
export const webhookDeliveryReleased = defineEvent('webhook_delivery.release', z.object(receipt), {
  publicFields: ['receiptId', 'projectId', 'projectSlug', 'digest'],
});
export const webhookDeliveryEvents = [webhookDeliveryReceived, webhookDeliveryReleased];
export type WebhookDeliveryEvent = EventOf<typeof webhookDeliveryReceived> | EventOf<typeof webhookDeliveryReleased>;
export type WebhookDeliveryReceipt = EventOf<typeof webhookDeliveryReceived>['data'];

export type WebhookDeliveryCommand = { type: 'receive'; receipt: WebhookDeliveryReceipt } | { type: 'release'; receipt: WebhookDeliveryReceipt };
/** The last event alone holds it: the receipt that stands, or null (none, or released). */
export type WebhookDeliveryState = { receiptId: string; deliveryId: string | null } | null;

export const webhookDeliveryDecider: Decider<WebhookDeliveryState, WebhookDeliveryCommand, WebhookDeliveryEvent> = {
  initialState: () => null,
  evolve: (_, e) => (e.type === 'webhook_delivery.receive' ? { receiptId: e.data.receiptId, deliveryId: e.data.deliveryId } : null),
  decide: (c, s) => {
    // received before: the body is a replay, and changes nothing
    if (c.type === 'receive') return s ? [] : [{ type: 'webhook_delivery.receive', data: c.receipt }];
    if (s?.receiptId !== c.receipt.receiptId) return [];
    const { event: _e, deliveryId: _d, ...released } = c.receipt;
    return [{ type: 'webhook_delivery.release', data: released }];
  },
};

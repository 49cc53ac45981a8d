import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { createRegistry } from '../events/registry.ts';
import { webhookDeliveryDecider, webhookDeliveryEvents, type WebhookDeliveryCommand } from './webhook-delivery.ts';

const test = suite('domain/pipelines: a signed webhook body received once');
const receiptOf = (receiptId: string, deliveryId: string | null) => ({
  receiptId,
  projectId: 'p',
  projectSlug: 'gh/acme/app',
  digest: 'a'.repeat(64),
  event: 'push',
  deliveryId,
});
const receive = (receiptId: string, deliveryId: string | null = null): WebhookDeliveryCommand => ({
  type: 'receive',
  receipt: receiptOf(receiptId, deliveryId),
});
const release = (receiptId: string): WebhookDeliveryCommand => ({ type: 'release', receipt: receiptOf(receiptId, null) });
const spec = deciderSpec(webhookDeliveryDecider, { registry: createRegistry(webhookDeliveryEvents) });
const told = (...commands: WebhookDeliveryCommand[]) => spec.run(...commands).history.map((e) => `${e.type} ${e.data.receiptId}`);

test('the first receipt of a body stands: the same body again, under any delivery id, appends nothing', () => {
  assert.equal(told(receive('r1', 'd1'), receive('r2', 'd2'), receive('r3', null)), ['webhook_delivery.receive r1']);
});

test('a receipt is released by its own holder only, once; then the body is received anew', () => {
  assert.equal(told(receive('r1'), release('r2'), release('r1'), release('r1'), receive('r3')), [
    'webhook_delivery.receive r1',
    'webhook_delivery.release r1',
    'webhook_delivery.receive r3',
  ]);
});

test.run();

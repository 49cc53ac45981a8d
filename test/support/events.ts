import { randomUUID } from 'node:crypto';
import type { EventMetadata, NewEvent } from '../../domain/events/envelope.ts';

export const testMetadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: { id: 'tester', type: 'user', name: 'tester' },
  target: { id: 'thing', type: 'thing' },
  scope: null,
  request: null,
  success: true,
  metadata: {},
  version: 1,
  $correlationId: 'test',
  $causationId: null,
  ...overrides,
});

export const newEvent = (type: string, data: Record<string, unknown> = {}): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: testMetadata(),
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const uniqueName = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, '').slice(0, 12)}`;

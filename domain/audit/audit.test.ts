import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ValidationError } from '../errors.ts';
import { eventRegistry } from '../events/catalog.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { matchesActions, parseActionFilters } from './action-filter.ts';
import { auditColumns, toAuditRecord } from './audit-record.ts';

const test = suite('domain/audit');

test('action filters: exact names and .* prefixes', () => {
  const f = parseActionFilters(['user.create', 'context.*']);
  assert.ok(matchesActions(f, 'user.create'));
  assert.ok(matchesActions(f, 'context.env_var.store'));
  assert.not.ok(matchesActions(f, 'user.created'));
  assert.not.ok(matchesActions(f, 'contexts.create'));
  assert.ok(matchesActions([], 'anything.at_all'));
});

test('bad action filters are refused', () => {
  for (const bad of ['', 'User.Create', 'user.*.x', '*', "user.create' or 1=1", '.*']) {
    assert.throws(
      () => parseActionFilters([bad]),
      (e: unknown) => e instanceof ValidationError,
    );
  }
});

const tokenEvent: RecordedEvent = {
  id: '2b1c2c4e-2f0e-4a53-9d6a-5b7a1d0c9e11',
  type: 'user.api_token.create',
  data: { tokenId: 't1', label: 'bootstrap', tokenHash: 'f'.repeat(64) },
  metadata: {
    actor: { id: 'gyre', type: 'system', name: 'gyre' },
    target: { id: 'u1', type: 'user', name: 'admin' },
    scope: null,
    request: { id: 'r1', ip_address: '127.0.0.1', client_trace_id: 'trace "1"' },
    success: true,
    metadata: { note: 'a,b' },
    version: 1,
    $correlationId: 'c',
    $causationId: null,
  },
  stream: 'user-u1',
  revision: 1,
  position: '1',
  occurredAt: '2026-11-25T10:00:00.123456Z',
};

test('the audit record shows only the public fields of the data', () => {
  const r = toAuditRecord(tokenEvent, eventRegistry);
  assert.equal(r.payload, { tokenId: 't1', label: 'bootstrap' });
  assert.not.ok(JSON.stringify(r).includes('f'.repeat(64)));
});

test('a refused event shows its refusal data', () => {
  const refused = {
    ...tokenEvent,
    data: { reason: 'no', code: 'FORBIDDEN', status: 403, operation: 'x', secret: 's' },
    metadata: { ...tokenEvent.metadata, success: false },
  };
  assert.equal(toAuditRecord(refused, eventRegistry).payload, { reason: 'no', code: 'FORBIDDEN', status: 403, operation: 'x' });
});

test('the CSV columns are the guide columns in its order', () => {
  assert.equal(auditColumns.join(','), 'action,actor,target,payload,occurred_at,metadata,id,version,scope,success,request');
});

test('the registry refuses data that fails its schema and unknown types', () => {
  assert.throws(() => eventRegistry.parse('user.api_token.create', { tokenId: 't', label: 'x', tokenHash: 'not-a-hash' }), /tokenHash/);
  assert.throws(() => eventRegistry.parse('nope.never', {}), /unknown event type/);
  assert.throws(() => eventRegistry.parse('user.create', { reason: 'x' }, false), /code/);
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { ValidationError } from '../errors.ts';
import { eventRegistry } from '../events/catalog.ts';
import { defaultSettings, holdsWholeSettings, parseSettingsInput, settingsDecider, type SettingsEvent } from './settings.ts';

const test = suite('domain/system/settings');
const spec = deciderSpec(settingsDecider, { registry: eventRegistry });
const given = spec.state;
const when = (events: SettingsEvent[], input: unknown) => spec.decide(events, { type: 'update', input: parseSettingsInput(input) });

test('an update records only what changed, from and to', () => {
  spec
    .given([])
    .when({ type: 'update', input: parseSettingsInput({ suspendNewUsers: true, licenseSeats: null, requiredOrgMembership: [] }) })
    .then([
      {
        type: 'system.settings.update',
        data: { changes: { suspendNewUsers: { from: false, to: true } }, settings: { ...defaultSettings, suspendNewUsers: true, requiredOrgMembership: [] } },
      },
    ]);
});

test('fields left out stay as they were', () => {
  const history = when([], { suspendNewUsers: true, licenseSeats: 10 });
  const after = given([...history, ...when(history, { requiredOrgMembership: ['acme'] })]);
  assert.equal(after, { ...defaultSettings, suspendNewUsers: true, licenseSeats: 10, requiredOrgMembership: ['acme'] });
});

test('an update that changes nothing yields no event', () => {
  assert.equal(when([], { suspendNewUsers: false }), []);
  assert.equal(when([], {}), []);
});

test('orgs are de-duplicated case-insensitively, keeping the first spelling', () => {
  const [e] = when([], { requiredOrgMembership: ['Acme', 'acme', 'Other'] });
  assert.equal(e?.data.changes.requiredOrgMembership?.to, ['Acme', 'Other']);
});

test('licenseSeats can be cleared back to unlimited with null', () => {
  const history = when([], { licenseSeats: 5 });
  const [e] = when(history, { licenseSeats: null });
  assert.equal(e?.data.changes.licenseSeats, { from: 5, to: null });
});

test('bad input is refused with a message naming the field', () => {
  for (const [input, field] of [
    [{ licenseSeats: -1 }, 'licenseSeats'],
    [{ licenseSeats: 1.5 }, 'licenseSeats'],
    [{ requiredOrgMembership: ['bad org!'] }, 'requiredOrgMembership.0'],
    [{ requiredOrgMembership: ['-lead'] }, 'requiredOrgMembership.0'],
    [{ colour: 'blue' }, 'colour'],
    [{ artifactRetentionDays: 0 }, 'artifactRetentionDays'],
    [{ cacheRetentionDays: 3651 }, 'cacheRetentionDays'],
    [{ outputRetentionDays: 1.5 }, 'outputRetentionDays'],
    [{ workspaceRetentionDays: null }, 'workspaceRetentionDays'],
  ] as const) {
    try {
      parseSettingsInput(input);
      assert.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (e) {
      assert.instance(e, ValidationError);
      assert.match((e as Error).message, field.split('.')[0]!);
    }
  }
});

test('retention periods change like the rest, from and to, in whole days', () => {
  const [e] = when([], { artifactRetentionDays: 7, cacheRetentionDays: 15, testResultRetentionDays: 3650 });
  assert.equal(e?.data.changes, { artifactRetentionDays: { from: 30, to: 7 }, testResultRetentionDays: { from: 30, to: 3650 } });
  assert.equal(eventRegistry.publicPayload(e!.type, e!.data), { changes: e!.data.changes }, 'the audit log shows the changes, not the whole settings');
  assert.is(given([e!]).artifactRetentionDays, 7);
  assert.is(given([e!]).workspaceRetentionDays, 15);
});

test('each update carries the whole settings, so the last event alone decides the next', () => {
  const { history, state } = spec.run(
    { type: 'update', input: parseSettingsInput({ licenseSeats: 10 }) },
    { type: 'update', input: parseSettingsInput({ requiredOrgMembership: ['acme'] }) },
    { type: 'update', input: parseSettingsInput({ cacheRetentionDays: 3 }) },
  );
  assert.equal(given(history.slice(-1)), state);
  assert.equal(state, { ...defaultSettings, licenseSeats: 10, requiredOrgMembership: ['acme'], cacheRetentionDays: 3 });
  assert.ok(holdsWholeSettings(history.at(-1)!));
});

test('events of the earlier shape (changes only) still fold, and say they need the stream folded whole', () => {
  const old: SettingsEvent[] = [
    { type: 'system.settings.update', data: { changes: { licenseSeats: { from: null, to: 4 } } } },
    { type: 'system.settings.update', data: { changes: { suspendNewUsers: { from: false, to: true } } } },
  ];
  assert.equal(given(old), { ...defaultSettings, licenseSeats: 4, suspendNewUsers: true });
  assert.not.ok(holdsWholeSettings(old[1]!));
  const [next] = when(old, { cacheRetentionDays: 3 });
  assert.equal(given([next!]), { ...defaultSettings, licenseSeats: 4, suspendNewUsers: true, cacheRetentionDays: 3 });
});

test('the initial state is the documented default', () => {
  assert.equal(given([]), defaultSettings);
  assert.equal([defaultSettings.outputRetentionDays, defaultSettings.artifactRetentionDays, defaultSettings.testResultRetentionDays], [30, 30, 30]);
  assert.equal([defaultSettings.cacheRetentionDays, defaultSettings.workspaceRetentionDays], [15, 15]);
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { ValidationError } from '../errors.ts';
import { eventRegistry } from '../events/catalog.ts';
import { defaultSettings, parseSettingsInput, settingsDecider, type SettingsEvent } from './settings.ts';

const test = suite('domain/system/settings');
const spec = deciderSpec(settingsDecider, { registry: eventRegistry });
const given = spec.state;
const when = (events: SettingsEvent[], input: unknown) => spec.decide(events, { type: 'update', input: parseSettingsInput(input) });

test('an update records only what changed, from and to', () => {
  spec.given([]).when({ type: 'update', input: parseSettingsInput({ suspendNewUsers: true, licenseSeats: null, requiredOrgMembership: [] }) }).then([{ type: 'system.settings.update', data: { changes: { suspendNewUsers: { from: false, to: true } } } }]);
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
  assert.is(given([e!]).artifactRetentionDays, 7);
  assert.is(given([e!]).workspaceRetentionDays, 15);
});

test('the initial state is the documented default', () => {
  assert.equal(given([]), defaultSettings);
  assert.equal([defaultSettings.outputRetentionDays, defaultSettings.artifactRetentionDays, defaultSettings.testResultRetentionDays], [30, 30, 30]);
  assert.equal([defaultSettings.cacheRetentionDays, defaultSettings.workspaceRetentionDays], [15, 15]);
});

test.run();

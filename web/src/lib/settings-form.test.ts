import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formOf, orgList, settingsInput, type SystemSettings } from './settings-form.ts';

const test = suite('web/lib/settings-form: the system settings form');

const settings: SystemSettings = {
  suspendNewUsers: false,
  requiredOrgMembership: ['acme', 'widgets'],
  licenseSeats: null,
  seatsUsed: 3,
  outputRetentionDays: 30,
  artifactRetentionDays: 30,
  testResultRetentionDays: 30,
  cacheRetentionDays: 15,
  workspaceRetentionDays: 15,
};

test('the settings fill the form and come back unchanged', () => {
  const form = formOf(settings);
  assert.is(form.licenseSeats, '', 'no limit is an empty field');
  assert.is(form.requiredOrgMembership, 'acme, widgets');
  const { seatsUsed: _, ...expected } = settings;
  assert.equal(settingsInput(form).input, expected);
});

test('organisations are separated by commas, spaces or lines, each once', () => {
  assert.equal(orgList('acme,  widgets\nacme other, '), ['acme', 'widgets', 'other']);
  assert.equal(orgList(''), []);
});

test('seats: a whole number or empty for no limit', () => {
  assert.is(settingsInput({ ...formOf(settings), licenseSeats: ' 42 ' }).input?.licenseSeats, 42);
  assert.is(settingsInput({ ...formOf(settings), licenseSeats: '0' }).input?.licenseSeats, 0);
  for (const bad of ['-1', '2.5', 'ten'])
    assert.match(settingsInput({ ...formOf(settings), licenseSeats: bad }).errors?.licenseSeats ?? '', /whole number/, bad);
});

test('retention: whole days from 1 to 3650, each field its own message', () => {
  const r = settingsInput({ ...formOf(settings), outputRetentionDays: '0', cacheRetentionDays: '3651', workspaceRetentionDays: 'x' });
  assert.is(r.input, null);
  assert.equal(Object.keys(r.errors!).sort(), ['cacheRetentionDays', 'outputRetentionDays', 'workspaceRetentionDays']);
  assert.match(r.errors!.outputRetentionDays!, /^Step output retention must be a whole number of days from 1 to 3650/);
  assert.is(settingsInput({ ...formOf(settings), cacheRetentionDays: '3650' }).input?.cacheRetentionDays, 3650);
});

test.run();

import { z } from 'zod';
import { DomainError, ValidationError, describeIssues } from '../errors.ts';
import { GitHubName } from '../github-name.ts';
import { defineEvent } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * The one stream that holds the system settings. Each update carries the whole settings as they
 * stand after it (`settings`, not shown by the audit log, which shows the changes), so an update is
 * decided from the stream's last event alone, however long the stream.
 */
export const settingsStream = 'system-settings';
export const settingsTarget = { id: 'system-settings', type: 'system_settings', name: 'System Settings' };

export interface SystemSettings {
  readonly suspendNewUsers: boolean;
  /** GitHub orgs whose members may sign up; empty means anyone may. */
  readonly requiredOrgMembership: ReadonlyArray<string>;
  /** How many active accounts the licence allows; null means no limit. */
  readonly licenseSeats: number | null;
  /** How many days each kind of file is kept (see the retention worker). */
  readonly outputRetentionDays: number;
  readonly artifactRetentionDays: number;
  readonly testResultRetentionDays: number;
  readonly cacheRetentionDays: number;
  readonly workspaceRetentionDays: number;
}

/** The retention periods, in days: CircleCI keeps artifacts 30 days, caches and workspaces 15. */
export const retentionFields = [
  'outputRetentionDays',
  'artifactRetentionDays',
  'testResultRetentionDays',
  'cacheRetentionDays',
  'workspaceRetentionDays',
] as const;
export type RetentionField = (typeof retentionFields)[number];
export const maxRetentionDays = 3650;

export const defaultSettings: SystemSettings = {
  suspendNewUsers: false,
  requiredOrgMembership: [],
  licenseSeats: null,
  outputRetentionDays: 30,
  artifactRetentionDays: 30,
  testResultRetentionDays: 30,
  cacheRetentionDays: 15,
  workspaceRetentionDays: 15,
};

const Days = z
  .number()
  .int('must be a whole number of days')
  .min(1, 'must be at least 1 day')
  .max(maxRetentionDays, `must be at most ${maxRetentionDays} days`);
const retentionInput = Object.fromEntries(retentionFields.map((f) => [f, Days.optional()])) as Record<RetentionField, z.ZodOptional<typeof Days>>;
const retentionChanges = Object.fromEntries(retentionFields.map((f) => [f, z.object({ from: z.number().int(), to: z.number().int() })])) as Record<
  RetentionField,
  z.ZodObject<{ from: z.ZodNumber; to: z.ZodNumber }>
>;

/** What `updateSystemSettings` accepts: each field optional, what is left out stays as it was. */
export const SettingsInput = z
  .object({
    suspendNewUsers: z.boolean().optional(),
    requiredOrgMembership: z.array(GitHubName).max(100, 'at most 100 organizations').optional(),
    licenseSeats: z.number().int('must be a whole number').min(0, 'must be 0 or more').max(1_000_000).nullable().optional(),
    ...retentionInput,
  })
  .strict();
export type SettingsInput = z.infer<typeof SettingsInput>;

export const parseSettingsInput = (input: unknown): SettingsInput => {
  const r = SettingsInput.safeParse(input);
  if (!r.success) throw new ValidationError(`invalid system settings: ${describeIssues(r.error.issues)}`);
  return r.data;
};

const change = <T extends z.ZodType>(t: T) => z.object({ from: t, to: t });
const WholeSettings = z.object({
  suspendNewUsers: z.boolean(),
  requiredOrgMembership: z.array(z.string()),
  licenseSeats: z.number().int().nullable(),
  ...(Object.fromEntries(retentionFields.map((f) => [f, z.number().int()])) as Record<RetentionField, z.ZodNumber>),
});
export const settingsUpdated = defineEvent(
  'system.settings.update',
  z.object({
    changes: z
      .object({
        suspendNewUsers: change(z.boolean()),
        requiredOrgMembership: change(z.array(z.string())),
        licenseSeats: change(z.number().int().nullable()),
        ...retentionChanges,
      })
      .partial(),
    /** The settings after this update; absent in events written before it was carried (their stream is folded whole once). */
    settings: WholeSettings.optional(),
  }),
  { publicFields: ['changes'] },
);
export type SettingsEvent = { type: 'system.settings.update'; data: z.infer<typeof settingsUpdated.schema> };
export type SettingsCommand = { type: 'update'; input: SettingsInput };

/** A stream's last event holds the whole settings when it carries them: events of the earlier shape need the stream folded whole. */
export const holdsWholeSettings = (last: { data: unknown }): boolean => Boolean((last.data as { settings?: unknown }).settings);

/** Org names compare case-insensitively; keep the first spelling of each. */
const normalizeOrgs = (orgs: ReadonlyArray<string>): string[] => {
  const seen = new Set<string>();
  return orgs.filter((o) => {
    const k = o.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
};
const sameList = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x, i) => x === b[i]);

export const settingsDecider: Decider<SystemSettings, SettingsCommand, SettingsEvent> = {
  initialState: () => defaultSettings,
  evolve: (state, event) => {
    if (event.data.settings) return event.data.settings;
    const c = event.data.changes;
    return {
      suspendNewUsers: c.suspendNewUsers ? c.suspendNewUsers.to : state.suspendNewUsers,
      requiredOrgMembership: c.requiredOrgMembership ? c.requiredOrgMembership.to : state.requiredOrgMembership,
      licenseSeats: c.licenseSeats ? c.licenseSeats.to : state.licenseSeats,
      ...Object.fromEntries(retentionFields.map((f) => [f, c[f] ? c[f].to : state[f]])),
    } as SystemSettings;
  },
  decide: (command, state) => {
    if (command.type !== 'update') throw new DomainError('UNKNOWN_COMMAND', `unknown settings command`);
    const { input } = command;
    const changes: SettingsEvent['data']['changes'] = {};
    if (input.suspendNewUsers !== undefined && input.suspendNewUsers !== state.suspendNewUsers) {
      changes.suspendNewUsers = { from: state.suspendNewUsers, to: input.suspendNewUsers };
    }
    if (input.requiredOrgMembership !== undefined) {
      const to = normalizeOrgs(input.requiredOrgMembership);
      if (!sameList(to, state.requiredOrgMembership)) changes.requiredOrgMembership = { from: [...state.requiredOrgMembership], to };
    }
    if (input.licenseSeats !== undefined && input.licenseSeats !== state.licenseSeats) {
      changes.licenseSeats = { from: state.licenseSeats, to: input.licenseSeats };
    }
    for (const f of retentionFields) {
      const to = input[f];
      if (to !== undefined && to !== state[f]) changes[f] = { from: state[f], to };
    }
    if (Object.keys(changes).length === 0) return [];
    const settings = settingsDecider.evolve(state, { type: 'system.settings.update', data: { changes } });
    return [{ type: 'system.settings.update', data: { changes, settings: { ...settings, requiredOrgMembership: [...settings.requiredOrgMembership] } } }];
  },
};

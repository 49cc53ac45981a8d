import { z } from 'zod';
import { DomainError, ValidationError, describeIssues } from '../errors.ts';
import { GitHubName } from '../github-name.ts';
import { defineEvent } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/** The one stream that holds the system settings. */
export const settingsStream = 'system-settings';
export const settingsTarget = { id: 'system-settings', type: 'system_settings', name: 'System Settings' };

export interface SystemSettings {
  readonly suspendNewUsers: boolean;
  /** GitHub orgs whose members may sign up; empty means anyone may. */
  readonly requiredOrgMembership: ReadonlyArray<string>;
  /** How many active accounts the licence allows; null means no limit. */
  readonly licenseSeats: number | null;
}

export const defaultSettings: SystemSettings = { suspendNewUsers: false, requiredOrgMembership: [], licenseSeats: null };

/** What `updateSystemSettings` accepts: each field optional, what is left out stays as it was. */
export const SettingsInput = z
  .object({
    suspendNewUsers: z.boolean().optional(),
    requiredOrgMembership: z.array(GitHubName).max(100, 'at most 100 organizations').optional(),
    licenseSeats: z.number().int('must be a whole number').min(0, 'must be 0 or more').max(1_000_000).nullable().optional(),
  })
  .strict();
export type SettingsInput = z.infer<typeof SettingsInput>;

export const parseSettingsInput = (input: unknown): SettingsInput => {
  const r = SettingsInput.safeParse(input);
  if (!r.success) throw new ValidationError(`invalid system settings: ${describeIssues(r.error.issues)}`);
  return r.data;
};

const change = <T extends z.ZodType>(t: T) => z.object({ from: t, to: t });
export const settingsUpdated = defineEvent(
  'system.settings.update',
  z.object({
    changes: z
      .object({
        suspendNewUsers: change(z.boolean()),
        requiredOrgMembership: change(z.array(z.string())),
        licenseSeats: change(z.number().int().nullable()),
      })
      .partial(),
  }),
  { publicFields: ['changes'] },
);
export type SettingsEvent = { type: 'system.settings.update'; data: z.infer<typeof settingsUpdated.schema> };
export type SettingsCommand = { type: 'update'; input: SettingsInput };

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
    const c = event.data.changes;
    return {
      suspendNewUsers: c.suspendNewUsers ? c.suspendNewUsers.to : state.suspendNewUsers,
      requiredOrgMembership: c.requiredOrgMembership ? c.requiredOrgMembership.to : state.requiredOrgMembership,
      licenseSeats: c.licenseSeats ? c.licenseSeats.to : state.licenseSeats,
    };
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
    return Object.keys(changes).length ? [{ type: 'system.settings.update', data: { changes } }] : [];
  },
};

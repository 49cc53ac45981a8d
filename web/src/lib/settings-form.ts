/**
 * The system settings form: the settings as text fields, checked, and turned into
 * updateSystemSettings's input. Pure: tested without a browser.
 */

export const retentionFields = [
  ['outputRetentionDays', 'Step output retention (days)'],
  ['artifactRetentionDays', 'Artifact retention (days)'],
  ['testResultRetentionDays', 'Test result retention (days)'],
  ['cacheRetentionDays', 'Cache retention (days)'],
  ['workspaceRetentionDays', 'Workspace retention (days)'],
] as const;
export type RetentionField = (typeof retentionFields)[number][0];
export const maxRetentionDays = 3650;

/** SystemSettings of schema.graphql, as the page reads it. */
export type SystemSettings = {
  suspendNewUsers: boolean;
  requiredOrgMembership: string[];
  licenseSeats: number | null;
  seatsUsed: number;
} & Record<RetentionField, number>;

/** The form's fields as the inputs hold them. */
export type SettingsForm = { licenseSeats: string; suspendNewUsers: boolean; requiredOrgMembership: string } & Record<RetentionField, string>;

export type SettingsInput = { licenseSeats: number | null; suspendNewUsers: boolean; requiredOrgMembership: string[] } & Record<RetentionField, number>;

export const formOf = (s: SystemSettings): SettingsForm => ({
  licenseSeats: s.licenseSeats === null ? '' : String(s.licenseSeats),
  suspendNewUsers: s.suspendNewUsers,
  requiredOrgMembership: s.requiredOrgMembership.join(', '),
  ...(Object.fromEntries(retentionFields.map(([f]) => [f, String(s[f])])) as Record<RetentionField, string>),
});

/** "acme, widgets\nother" → ["acme", "widgets", "other"]: commas, spaces or lines separate them. */
export const orgList = (text: string): string[] => [...new Set(text.split(/[\s,]+/).filter(Boolean))];

const whole = (text: string) => (/^\s*\d+\s*$/.test(text) ? Number(text) : null);

/** The input for updateSystemSettings, or what is wrong with each field, in words. */
export const settingsInput = (
  form: SettingsForm,
): { input: SettingsInput; errors: null } | { input: null; errors: Partial<Record<keyof SettingsForm, string>> } => {
  const errors: Partial<Record<keyof SettingsForm, string>> = {};
  let seats: number | null = null;
  if (form.licenseSeats.trim() !== '') {
    seats = whole(form.licenseSeats);
    if (seats === null) errors.licenseSeats = 'Licence seats must be a whole number (0 or more), or empty for no limit.';
  }
  const days = {} as Record<RetentionField, number>;
  for (const [f, label] of retentionFields) {
    const n = whole(form[f]);
    if (n === null || n < 1 || n > maxRetentionDays)
      errors[f] = `${label.replace(' (days)', '')} must be a whole number of days from 1 to ${maxRetentionDays}.`;
    else days[f] = n;
  }
  if (Object.keys(errors).length) return { input: null, errors };
  return {
    input: { licenseSeats: seats, suspendNewUsers: form.suspendNewUsers, requiredOrgMembership: orgList(form.requiredOrgMembership), ...days },
    errors: null,
  };
};

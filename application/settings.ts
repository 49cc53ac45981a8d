import type { CommandContext } from '../domain/events/envelope.ts';
import { parseSettingsInput, settingsDecider, settingsStream, settingsTarget } from '../domain/system/settings.ts';
import { systemSettings } from '../projections/system-settings.ts';
import type { UseCases } from './dependencies.ts';

/** Changes the system settings (licence seats, sign-up rules) and answers with them as they now stand. */
export const updateSystemSettings = async (s: UseCases, context: CommandContext, input: unknown) => {
  const parsed = parseSettingsInput(input);
  const result = await s.commands.execute({ stream: settingsStream, decider: settingsDecider, command: { type: 'update', input: parsed }, context, target: settingsTarget });
  await s.readYourWrites(result);
  return systemSettings(s.db);
};

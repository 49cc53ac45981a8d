import type { CommandContext } from '../domain/events/envelope.ts';
import { holdsWholeSettings, parseSettingsInput, settingsDecider, settingsStream, settingsTarget } from '../domain/system/settings.ts';
import { systemSettings } from '../projections/system-settings.ts';
import type { UseCases } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/**
 * An update sets the fields it names and leaves the rest: two updates do not depend on each other's
 * order, so one that finds the stream moved on is decided again on the newer settings instead of
 * answering CONFLICT. Each writer that collides retries after a jittered pause; 64 attempts is far
 * past what any number of concurrent admins makes (one of them wins each round).
 */
export const settingsUpdateAttempts = 64;

/** Changes the system settings (licence seats, sign-up rules) and answers with them as they now stand. */
export const updateSystemSettings = async (s: UseCases, context: CommandContext, input: unknown) => {
  const parsed = parseSettingsInput(input);
  await executeAndWait(s, {
    stream: settingsStream,
    decider: settingsDecider,
    command: { type: 'update', input: parsed },
    context,
    target: settingsTarget,
    lastEventOnly: holdsWholeSettings,
    maxAttempts: settingsUpdateAttempts,
  });
  return systemSettings(s.db);
};

import type { Rotation } from '../adapters/encryption/port.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { masterKeyRotated, masterKeyTarget } from '../domain/secrets/master-key.ts';
import type { UseCases, WithVault } from './dependencies.ts';

/** Re-wraps every data key under the current master key, and records that it did. */
export const rotateMasterKey = async (s: UseCases & WithVault, context: CommandContext): Promise<Rotation> => {
  const rotation = await s.vault.rotate();
  const event = await s.commands.record(
    'master-key',
    { type: masterKeyRotated.type, data: { ...rotation, fromKeyIds: [...rotation.fromKeyIds] } },
    { context, target: masterKeyTarget },
  );
  await s.readYourWrites({ position: event.position, events: [event] });
  return rotation;
};

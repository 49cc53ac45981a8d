import type { CommandContext } from '../domain/events/envelope.ts';
import {
  credentialShown,
  givenCredentials,
  parseVmServiceInput,
  vmCredentialsLabel,
  vmCredentialsOwner,
  vmServiceDecider,
  vmServiceStream,
  vmServiceTarget,
  type VmServiceCommand,
} from '../domain/vm/service.ts';
import { vmServiceSettings } from '../projections/vm.ts';
import type { UseCases, WithVault } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/** Configures the VM service (admins) and answers with it as it now stands; the credentials are sealed before they reach the log, and never shown again. */
export const configureVmService = async (s: UseCases & WithVault, context: CommandContext, input: unknown) => {
  const parsed = parseVmServiceInput(input);
  const given = givenCredentials(parsed);
  const credentials: VmServiceCommand['credentials'] =
    given.kind === 'keep' || given.kind === 'default'
      ? given
      : {
          kind: 'sealed',
          sealed: await s.vault.seal(
            vmCredentialsOwner,
            vmCredentialsLabel,
            given.kind === 'aws' ? JSON.stringify({ accessKeyId: given.accessKeyId, secretAccessKey: given.secretAccessKey }) : given.serviceAccountJson,
          ),
          shown: credentialShown(given),
        };
  await executeAndWait(s, {
    stream: vmServiceStream,
    decider: vmServiceDecider,
    command: { type: 'configure', input: parsed, credentials },
    context,
    target: vmServiceTarget,
    lastEventOnly: true,
    maxAttempts: 5,
  });
  return vmServiceSettings(s.db);
};

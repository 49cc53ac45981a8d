/**
 * The VM port over Amazon EC2 through `@aws-sdk/client-ec2`. The endpoint is the SDK's own choice
 * (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, the shared config file, else EC2's in the region), and
 * so are the credentials when none are given (the SDK's default chain: environment, profile, instance
 * role). The SDK tries a call twice at most: Gyre's VM worker retries what is worth retrying itself,
 * told by VmCloudError.retryable.
 */
import type { EC2Client, Instance, _InstanceType } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { managedByTag, type VmCloud, VmCloudError, type VmInstance, type VmLaunch, type VmState } from './port.ts';

export const ec2Settings = z.object({
  region: z.string().trim().min(1),
  subnetId: z.string().regex(/^subnet-/, 'must be a subnet id, as in subnet-0abc123'),
  securityGroupId: z.string().regex(/^sg-/, 'must be a security group id, as in sg-0abc123'),
  /** An EC2 key pair for SSH to the instances; none unless set. */
  keyName: z.string().trim().min(1).optional(),
  /** Without them the SDK's default credential chain applies. */
  credentials: z.object({ accessKeyId: z.string().trim().min(1), secretAccessKey: z.string().min(1) }).optional(),
});
export type Ec2Settings = z.infer<typeof ec2Settings>;

/** "User data is limited to 16 KB, in raw form, before it is base64-encoded" (EC2 API reference: RunInstances). */
const userDataLimit = 16 * 1024;
/**
 * EC2 is eventually consistent: an instance RunInstances just started may be unknown to the next call
 * for a while ("Eventual consistency" in the EC2 API reference). An id this process launched is taken
 * as pending, not gone, for this long.
 */
const settleMs = 2 * 60_000;
/** Refusals that may pass: throttling, no capacity now, a server error, a connection that failed or timed out. */
const retryableCodes = new Set([
  'RequestLimitExceeded',
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'Unavailable',
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'RequestTimeout',
  'TimeoutError',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);
const notFound = 'InvalidInstanceID.NotFound';

const stateOf = (name: string | undefined): VmState => {
  switch (name) {
    case 'running':
      return 'running';
    case 'shutting-down':
    case 'stopping':
    case 'stopped':
      return 'stopping';
    case 'terminated':
      return 'terminated';
    default:
      return 'pending';
  }
};
/** Plain shell gets a shebang (cloud-init runs user data that starts with `#!`); Windows runs what is inside `<powershell>`. */
const userDataOf = (launch: VmLaunch) => {
  if (launch.vmType === 'WINDOWS')
    return /^\s*<powershell>/.test(launch.startupScript) ? launch.startupScript : `<powershell>\n${launch.startupScript}\n</powershell>`;
  return launch.startupScript.startsWith('#!') ? launch.startupScript : `#!/bin/sh\n${launch.startupScript}`;
};

export function createEc2Cloud(settings: Ec2Settings): VmCloud {
  const { region, credentials } = settings;
  /** Instances this process launched, and when: see settleMs. */
  const launched = new Map<string, { name: string; at: number }>();
  const settling = (cloudId: string) => {
    const l = launched.get(cloudId);
    return l && Date.now() - l.at < settleMs ? l : undefined;
  };

  // loaded on first use: the SDK is large, and an installation without the EC2 VM service never needs it
  let sdk: Promise<{ client: EC2Client; commands: typeof import('@aws-sdk/client-ec2') }> | undefined;
  const connect = () =>
    (sdk ??= import('@aws-sdk/client-ec2').then((commands) => ({
      commands,
      client: new commands.EC2Client({
        region,
        maxAttempts: 2,
        ...(credentials && { credentials }),
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000 },
      }),
    })));

  const scrub = (text: string) =>
    credentials ? text.split(credentials.secretAccessKey).join('[secret]').split(credentials.accessKeyId).join('[access key id]') : text;
  /** The SDK's error as a VmCloudError: AWS's code and message; a connection's failure by its errno code. */
  const refusal = (operation: string, e: unknown, signal?: AbortSignal) => {
    if (signal?.aborted) return signal.reason;
    const err = e as { name?: string; code?: unknown; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
    const fromAws = err.$fault !== undefined;
    const code = (fromAws ? err.name : typeof err.code === 'string' ? err.code : err.name) || 'Unknown';
    const status = err.$metadata?.httpStatusCode ?? 0;
    const retryable = retryableCodes.has(code) || code.startsWith('Throttling') || status >= 500 || err.$fault === 'server';
    const message = err.message || code;
    return new VmCloudError(scrub(`EC2 ${operation} in ${region}: ${message}`), code, retryable);
  };
  const call = async <T>(operation: string, send: (c: Awaited<ReturnType<typeof connect>>) => Promise<T>, signal?: AbortSignal): Promise<T> => {
    if (signal?.aborted) throw signal.reason;
    try {
      return await send(await connect());
    } catch (e) {
      throw refusal(operation, e, signal);
    }
  };
  const view = (i: Instance, fallbackName: string): VmInstance => ({
    cloudId: i.InstanceId!,
    name: i.Tags?.find((t) => t.Key === 'gyre-instance')?.Value ?? (i.ClientToken || fallbackName),
    state: stateOf(i.State?.Name),
    address: i.PrivateIpAddress ?? null,
  });

  return {
    provider: 'AWS',
    async launch(launch, signal) {
      const userData = userDataOf(launch);
      const bytes = Buffer.byteLength(userData);
      if (bytes > userDataLimit)
        throw new VmCloudError(
          `the start-up script of ${launch.name} is ${bytes} bytes, and EC2 user data holds at most ${userDataLimit}: keep the script small and have it fetch the rest`,
          'UserDataTooLarge',
          false,
        );
      const tags = [
        { Key: managedByTag.key, Value: managedByTag.value },
        { Key: 'gyre-instance', Value: launch.name },
        { Key: 'Name', Value: `gyre-${launch.name}` },
      ];
      const answer = await call(
        'RunInstances',
        ({ client, commands }) =>
          client.send(
            new commands.RunInstancesCommand({
              MinCount: 1,
              MaxCount: 1,
              ImageId: launch.image,
              InstanceType: launch.machineType as _InstanceType,
              SubnetId: settings.subnetId,
              SecurityGroupIds: [settings.securityGroupId],
              ...(settings.keyName && { KeyName: settings.keyName }),
              // the same name starts one instance, however often RunInstances is retried
              ClientToken: launch.name,
              UserData: Buffer.from(userData, 'utf8').toString('base64'),
              TagSpecifications: [
                { ResourceType: 'instance', Tags: tags },
                { ResourceType: 'volume', Tags: tags },
              ],
            }),
            { abortSignal: signal },
          ),
        signal,
      );
      const instance = answer.Instances?.[0];
      if (!instance?.InstanceId) throw new VmCloudError(`EC2 RunInstances in ${region} answered without an instance for ${launch.name}`, 'NoInstance', true);
      const now = Date.now();
      for (const [id, l] of launched) if (now - l.at >= settleMs) launched.delete(id);
      if (!launched.has(instance.InstanceId)) launched.set(instance.InstanceId, { name: launch.name, at: now });
      return view(instance, launch.name);
    },

    async describe(cloudId, signal) {
      const gone = () => {
        const l = settling(cloudId);
        return l ? { cloudId, name: l.name, state: 'pending' as const, address: null } : null;
      };
      try {
        const answer = await call(
          'DescribeInstances',
          ({ client, commands }) => client.send(new commands.DescribeInstancesCommand({ InstanceIds: [cloudId] }), { abortSignal: signal }),
          signal,
        );
        const instance = answer.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === cloudId);
        return instance ? view(instance, launched.get(cloudId)?.name ?? '') : gone();
      } catch (e) {
        if (e instanceof VmCloudError && e.code === notFound) return gone();
        throw e;
      }
    },

    async terminate(cloudId, signal) {
      try {
        await call(
          'TerminateInstances',
          ({ client, commands }) => client.send(new commands.TerminateInstancesCommand({ InstanceIds: [cloudId] }), { abortSignal: signal }),
          signal,
        );
      } catch (e) {
        if (!(e instanceof VmCloudError && e.code === notFound)) throw e;
        // not yet known, rather than gone: ending it must be tried again, or it would run on
        if (settling(cloudId)) throw new VmCloudError(`${e.message} (launched under a minute or two ago: EC2 may not know it yet)`, e.code, true);
      }
    },
  };
}

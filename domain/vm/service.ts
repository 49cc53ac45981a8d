import { z } from 'zod';
import type { Decider } from '../decider.ts';
import { DomainError, describeIssues, ValidationError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { Sealed } from '../secrets/secret-value.ts';

/**
 * The VM service's configuration: which cloud starts the VMs of `machine` jobs, where, from which
 * images, with which credentials, and how many of each kind are kept started and idle (prescaled).
 * One stream; each configuration is whole, so the last event is the configuration. The credentials
 * are sealed in a field the audit log never shows; it shows which kind they are, masked.
 */
export const vmServiceStream = 'vm-service';
export const vmServiceTarget = { id: 'vm-service', type: 'vm_service', name: 'VM Service' };
/** The data key the credentials are sealed under, and its label. */
export const vmCredentialsOwner = 'gyre:vm-service';
export const vmCredentialsLabel = 'vm service credentials';

export const vmTypes = ['LINUX', 'WINDOWS', 'REMOTE_DOCKER'] as const;
export type VmType = (typeof vmTypes)[number];
export const maxPrescaled = 5;

const id = (prefix: string, what: string) =>
  z
    .string()
    .trim()
    .regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `must be ${what} (${prefix}-…)`);
const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]*$/, 'must be a name: letters, digits and . _ / : -');

const AwsInput = z
  .object({
    region: z
      .string()
      .trim()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, like us-east-1'),
    subnetId: id('subnet', 'a subnet id'),
    securityGroupId: id('sg', 'a security group id'),
    accessKeyId: z
      .string()
      .trim()
      .regex(/^[A-Z0-9]{16,128}$/, 'must be an access key id (AKIA…)')
      .nullish(),
    secretAccessKey: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').nullish(),
    linuxAmi: id('ami', 'an AMI id'),
    windowsAmi: id('ami', 'an AMI id').nullish(),
  })
  .strict();

const ServiceAccount = z.object({ type: z.literal('service_account'), client_email: z.string().email(), private_key: z.string().min(1) });
const GcpInput = z
  .object({
    projectId: z
      .string()
      .trim()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id'),
    zone: z
      .string()
      .trim()
      .regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, 'must be a zone, like us-east1-b'),
    network: name,
    subnetwork: name.nullish(),
    linuxImage: name,
    windowsImage: name.nullish(),
    serviceAccountJson: z
      .string()
      .max(16_384, 'must be at most 16 KiB')
      .refine((v) => {
        try {
          return ServiceAccount.safeParse(JSON.parse(v)).success;
        } catch {
          return false;
        }
      }, 'must be a service account key file (JSON with type "service_account", client_email and private_key)')
      .nullish(),
  })
  .strict();

const Pool = z.object({ vmType: z.enum(vmTypes), prescaled: z.number().int('must be a whole number').min(0).max(maxPrescaled) }).strict();

/**
 * What `configureVmService` accepts. A credential left out keeps the one configured (for the same
 * provider), and null drops it for the default credentials of the machine Gyre runs on (an instance
 * role, application default credentials).
 */
export const VmServiceInput = z
  .object({
    provider: z.enum(['AWS', 'GCP']),
    aws: AwsInput.nullish(),
    gcp: GcpInput.nullish(),
    pools: z.array(Pool).max(vmTypes.length).default([]),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.provider === 'AWS' && !v.aws) ctx.addIssue({ code: 'custom', path: ['aws'], message: 'is required for provider AWS' });
    if (v.provider === 'GCP' && !v.gcp) ctx.addIssue({ code: 'custom', path: ['gcp'], message: 'is required for provider GCP' });
    const given = (x: string | null | undefined) => (x === undefined ? 'left out' : x === null ? 'null' : 'given');
    if (v.aws && given(v.aws.accessKeyId) !== given(v.aws.secretAccessKey))
      ctx.addIssue({ code: 'custom', path: ['aws'], message: 'give accessKeyId and secretAccessKey together (or both null for the default credentials)' });
    const seen = new Set<string>();
    v.pools.forEach((p, i) => {
      if (seen.has(p.vmType)) ctx.addIssue({ code: 'custom', path: ['pools', i, 'vmType'], message: `${p.vmType} is named twice` });
      seen.add(p.vmType);
    });
  });
export type VmServiceInput = z.infer<typeof VmServiceInput>;

export const parseVmServiceInput = (input: unknown): VmServiceInput => {
  const r = VmServiceInput.safeParse(input);
  if (!r.success) throw new ValidationError(`invalid VM service configuration: ${describeIssues(r.error.issues)}`);
  return r.data;
};

/** The credentials as given: a key pair or a service account (to seal), none (the default credentials), or those configured. */
export type GivenCredentials =
  | { kind: 'keep' }
  | { kind: 'default' }
  | { kind: 'aws'; accessKeyId: string; secretAccessKey: string }
  | { kind: 'gcp'; serviceAccountJson: string };
export const givenCredentials = (input: VmServiceInput): GivenCredentials => {
  if (input.provider === 'AWS') {
    const { accessKeyId, secretAccessKey } = input.aws!;
    if (accessKeyId === undefined) return { kind: 'keep' };
    return accessKeyId && secretAccessKey ? { kind: 'aws', accessKeyId, secretAccessKey } : { kind: 'default' };
  }
  const json = input.gcp!.serviceAccountJson;
  return json === undefined ? { kind: 'keep' } : json ? { kind: 'gcp', serviceAccountJson: json } : { kind: 'default' };
};
/** What the audit log and the API show of a credential: whose it is, never the secret part. */
export const credentialShown = (c: Exclude<GivenCredentials, { kind: 'keep' | 'default' }>): string =>
  c.kind === 'aws'
    ? `access key xxxx${c.accessKeyId.slice(-4)}`
    : `service account ${(JSON.parse(c.serviceAccountJson) as { client_email: string }).client_email}`;

const Settings = z.object({
  provider: z.enum(['AWS', 'GCP']),
  aws: z.object({ region: z.string(), subnetId: z.string(), securityGroupId: z.string(), linuxAmi: z.string(), windowsAmi: z.string().nullable() }).nullable(),
  gcp: z
    .object({
      projectId: z.string(),
      zone: z.string(),
      network: z.string(),
      subnetwork: z.string().nullable(),
      linuxImage: z.string(),
      windowsImage: z.string().nullable(),
    })
    .nullable(),
  pools: z.array(z.object({ vmType: z.enum(vmTypes), prescaled: z.number().int() })),
  /** The credentials in words (`access key xxxxWXYZ`, `service account ci@p.iam.gserviceaccount.com`), or null for the default ones. */
  credentials: z.string().nullable(),
});
export type VmServiceSettings = z.infer<typeof Settings>;

export const vmServiceConfigured = defineEvent(
  'vm_service.configure',
  z.object({
    settings: Settings,
    /** The credentials, sealed (the JSON of the key pair, or the service account's key file); null for the default ones. */
    sealedCredentials: Sealed.nullable(),
  }),
  { publicFields: ['settings'] },
);
export const vmServiceEvents = [vmServiceConfigured];
export type VmServiceEvent = EventOf<typeof vmServiceConfigured>;

export interface VmService {
  readonly settings: VmServiceSettings;
  readonly sealedCredentials: string | null;
}
export type VmServiceState = VmService | null;

/** Configure: the parsed input with its credentials sealed already (`sealed`), or kept or dropped. */
export type VmServiceCommand = {
  type: 'configure';
  input: VmServiceInput;
  credentials: { kind: 'keep' } | { kind: 'default' } | { kind: 'sealed'; sealed: string; shown: string };
};

export const vmServiceDecider: Decider<VmServiceState, VmServiceCommand, VmServiceEvent> = {
  initialState: () => null,
  evolve: (_, e) => ({ settings: e.data.settings, sealedCredentials: e.data.sealedCredentials }),
  decide: ({ input, credentials }, s) => {
    const kept = s && s.settings.provider === input.provider ? s : null;
    if (credentials.kind === 'keep' && s && !kept && s.sealedCredentials)
      throw new DomainError(
        'VM_CREDENTIALS_REQUIRED',
        `the VM service moves from ${s.settings.provider} to ${input.provider}: give ${input.provider === 'AWS' ? 'accessKeyId and secretAccessKey' : 'serviceAccountJson'}, or null for the default credentials`,
      );
    const windows = input.provider === 'AWS' ? input.aws?.windowsAmi : input.gcp?.windowsImage;
    if (input.pools.some((p) => p.vmType === 'WINDOWS' && p.prescaled > 0) && !windows)
      throw new DomainError('VM_NO_WINDOWS_IMAGE', `a WINDOWS pool needs ${input.provider === 'AWS' ? 'aws.windowsAmi' : 'gcp.windowsImage'}`);
    const [sealedCredentials, shown] =
      credentials.kind === 'sealed'
        ? [credentials.sealed, credentials.shown]
        : credentials.kind === 'keep' && kept
          ? [kept.sealedCredentials, kept.settings.credentials]
          : [null, null];
    const settings: VmServiceSettings = {
      provider: input.provider,
      aws:
        input.provider === 'AWS' && input.aws
          ? {
              region: input.aws.region,
              subnetId: input.aws.subnetId,
              securityGroupId: input.aws.securityGroupId,
              linuxAmi: input.aws.linuxAmi,
              windowsAmi: input.aws.windowsAmi ?? null,
            }
          : null,
      gcp:
        input.provider === 'GCP' && input.gcp
          ? {
              projectId: input.gcp.projectId,
              zone: input.gcp.zone,
              network: input.gcp.network,
              subnetwork: input.gcp.subnetwork ?? null,
              linuxImage: input.gcp.linuxImage,
              windowsImage: input.gcp.windowsImage ?? null,
            }
          : null,
      pools: vmTypes.map((vmType) => ({ vmType, prescaled: input.pools.find((p) => p.vmType === vmType)?.prescaled ?? 0 })),
      credentials: shown,
    };
    return [{ type: 'vm_service.configure', data: { settings, sealedCredentials } }];
  },
};

/** The size of VM each `machine` resource class starts, per cloud: CircleCI's machine sizes (2, 4, 8 and 16 vCPUs). */
const machineTypes: Record<'AWS' | 'GCP', Record<string, string>> = {
  AWS: { medium: 'm5.large', large: 'm5.xlarge', xlarge: 'm5.2xlarge', '2xlarge': 'm5.4xlarge' },
  GCP: { medium: 'n2-standard-2', large: 'n2-standard-4', xlarge: 'n2-standard-8', '2xlarge': 'n2-standard-16' },
};
/** The class a prescaled instance is started at: the default `machine` size. Remote Docker engines are medium, as CircleCI's are. */
export const poolClass = 'medium';

/** The VM type a `machine` job's image runs on: Windows images on the Windows image, any other on the Linux one. */
export const vmTypeOfImage = (image: string | null): VmType => (image?.startsWith('windows-') ? 'WINDOWS' : 'LINUX');

/** What the cloud is asked to start for a VM type and a `machine` class; null when the configuration has no image for that type. */
export const vmSpecOf = (s: VmServiceSettings, vmType: VmType, machineClass: string): { image: string; machineType: string } | null => {
  const machineType = machineTypes[s.provider][machineClass] ?? machineTypes[s.provider][poolClass]!;
  const image =
    s.provider === 'AWS' ? (vmType === 'WINDOWS' ? s.aws?.windowsAmi : s.aws?.linuxAmi) : vmType === 'WINDOWS' ? s.gcp?.windowsImage : s.gcp?.linuxImage;
  return image ? { image, machineType } : null;
};

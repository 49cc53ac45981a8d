/**
 * The VmCloud port over Compute Engine's REST API v1 (cloud.google.com/compute/docs/reference/rest/v1)
 * through `@google-cloud/compute` and its REST transport (google-gax's fallback): `instances.insert`,
 * `instances.get`, `instances.delete`, and `zoneOperations.wait` for the operations insert and delete
 * start. GCE addresses instances by name, so the cloud id is the name Gyre gives. The library's own
 * retries are off: Gyre's worker asks again later, told by VmCloudError.retryable whether that can help.
 *
 * With a service account key the library signs its own JWT for every call (audience
 * https://compute.googleapis.com/, no scopes), so no token is fetched from oauth2.googleapis.com;
 * without one, application default credentials apply. The key never appears in a message.
 */
import { createPrivateKey } from 'node:crypto';
import type { InstancesClient, protos, ZoneOperationsClient } from '@google-cloud/compute';
import { z } from 'zod';
import { managedByLabel, type VmCloud, VmCloudError, type VmInstance, type VmLaunch, type VmState } from './port.ts';

type Instance = protos.google.cloud.compute.v1.IInstance;
type Operation = protos.google.cloud.compute.v1.IOperation;

interface ServiceAccountKey {
  readonly type: 'service_account';
  readonly client_email: string;
  readonly private_key: string;
  readonly private_key_id?: string;
}

const parseKey = (json: string): ServiceAccountKey | string => {
  let key: Record<string, unknown>;
  try {
    key = JSON.parse(json);
  } catch {
    return 'is not JSON: give the contents of a service account key file (gcloud iam service-accounts keys create)';
  }
  if (typeof key !== 'object' || key === null || key.type !== 'service_account') return 'is not a service account key: its "type" must be "service_account"';
  if (typeof key.client_email !== 'string' || !key.client_email) return 'has no "client_email"';
  if (typeof key.private_key !== 'string') return 'has no "private_key"';
  try {
    createPrivateKey(key.private_key);
  } catch {
    return 'has a "private_key" that is not a PEM private key';
  }
  return {
    type: 'service_account',
    client_email: key.client_email,
    private_key: key.private_key,
    ...(typeof key.private_key_id === 'string' && { private_key_id: key.private_key_id }),
  };
};

export const gceSettings = z.object({
  projectId: z.string().trim().min(1, 'must name the project the instances are started in'),
  zone: z
    .string()
    .trim()
    .regex(/^[a-z]+(?:-[a-z]+)*\d+-[a-z]$/, 'must be a Compute Engine zone such as us-central1-a'),
  /** A network's name (`default`), or its path (`projects/host/global/networks/ci`) for a Shared VPC. */
  network: z.string().trim().min(1),
  /** A subnetwork's name in the zone's region, or its path. */
  subnetwork: z.string().trim().min(1).optional(),
  /** The contents of a service account key file; without it, application default credentials. */
  serviceAccountJson: z
    .string()
    .optional()
    .superRefine((json, ctx) => {
      if (json === undefined) return;
      const key = parseKey(json);
      // the message names what is wrong, never the value: it holds a private key
      if (typeof key === 'string') ctx.addIssue({ code: 'custom', message: `the service account key ${key}` });
    }),
  /** Where the API is instead of https://compute.googleapis.com (GYRE_GCE_ENDPOINT): scheme, host and port only. */
  endpoint: z
    .string()
    .trim()
    .refine((v) => {
      try {
        const url = new URL(v);
        return ['http:', 'https:'].includes(url.protocol) && url.pathname === '/' && !url.search && !url.username;
      } catch {
        return false;
      }
    }, 'must be an http or https URL of a host and port only, such as http://127.0.0.1:8085')
    .optional(),
});
export type GceSettings = z.infer<typeof gceSettings>;

/** What the API answered when it refused, read from its error body (`{error: {code, message, errors: [{reason}]}}`) or an operation's error. */
interface Refusal {
  /** The HTTP status, when there was an answer. */
  readonly status?: number;
  /** `rateLimitExceeded`, `notFound`, `alreadyExists`; an operation's `ZONE_RESOURCE_POOL_EXHAUSTED`, `QUOTA_EXCEEDED`. */
  readonly reason?: string;
  readonly message: string;
  /** A connection that failed before any answer: `ECONNREFUSED`, `DEADLINE_EXCEEDED`. */
  readonly unreachable?: string;
}

const rawPayload = Symbol.for('google-gax.rawHttpResponsePayload');
const retryableReasons = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED', 'backendError', 'internalError']);
/** Rate quotas refill each minute (compute/docs/api-rate-limits); a resource quota (`Quota 'CPUS' exceeded. Limit: 24.0`) does not. */
const rateQuota = /per\s+(?:minute|second|100 seconds|day)|per-minute|PerMinute/i;
const networkErrors = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EADDRNOTAVAIL',
]);
const requestTimeoutMs = 60_000;
/** zoneOperations.wait answers within 2 minutes, DONE or not. */
const waitTimeoutMs = 150_000;
const operationTimeoutMs = 15 * 60_000;

const readRefusal = (e: unknown): Refusal => {
  const error = e as Error & { code?: number | string; httpStatusCode?: number; reason?: string; cause?: unknown; [rawPayload]?: unknown };
  let body: { error?: { code?: number; message?: string; errors?: Array<{ reason?: string; message?: string }> } } | undefined;
  const raw = error?.[rawPayload];
  try {
    body = typeof raw === 'string' ? JSON.parse(raw) : (raw as typeof body);
  } catch {
    body = undefined;
  }
  const status = error?.httpStatusCode ?? (typeof body?.error?.code === 'number' ? body.error.code : undefined);
  const message = body?.error?.message ?? error?.message ?? String(e);
  if (status !== undefined) return { status, reason: body?.error?.errors?.[0]?.reason ?? error.reason, message };
  // no answer: a connection refused or reset, a name that does not resolve, a deadline passed
  const system = (function find(c: unknown, depth: number): string | undefined {
    const code = (c as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && networkErrors.has(code)) return code;
    return depth < 4 && c && typeof c === 'object' && 'cause' in c ? find((c as { cause: unknown }).cause, depth + 1) : undefined;
  })(error, 0);
  // gRPC's DEADLINE_EXCEEDED
  if (system || error?.code === 4) return { message, unreachable: system ?? 'DEADLINE_EXCEEDED' };
  return { message };
};

const operationRefusal = (op: Operation): Refusal | null => {
  const errors = op.error?.errors ?? [];
  if (!errors.length) return null;
  return {
    ...(op.httpErrorStatusCode ? { status: op.httpErrorStatusCode } : {}),
    reason: errors[0]?.code ?? 'OPERATION_ERROR',
    message: errors.map((x) => x.message ?? x.code).join('; '),
  };
};

const retryable = (r: Refusal) => {
  if (r.unreachable) return true;
  const reason = r.reason ?? '';
  if (retryableReasons.has(reason) || reason.includes('RESOURCE_POOL_EXHAUSTED')) return true;
  if (/^(QUOTA_EXCEEDED|quotaExceeded)$/.test(reason)) return rateQuota.test(r.message);
  return r.status !== undefined && (r.status === 429 || r.status >= 500);
};

/** Instance.status (rest/instances: Instance life cycle); one the library does not know yet reads as pending. */
const states: Readonly<Record<string, VmState>> = {
  PENDING: 'pending',
  PROVISIONING: 'pending',
  STAGING: 'pending',
  REPAIRING: 'pending',
  RUNNING: 'running',
  STOPPING: 'stopping',
  SUSPENDING: 'stopping',
  PENDING_STOP: 'stopping',
  DEPROVISIONING: 'stopping',
  // GCE's TERMINATED is stopped: the instance and its disk stay until they are deleted (terminate)
  STOPPED: 'terminated',
  SUSPENDED: 'terminated',
  TERMINATED: 'terminated',
};

const gyreInstanceLabel = 'gyre-instance';

export const createGceCloud = (settings: GceSettings): VmCloud & { close(): Promise<void> } => {
  const { projectId: project, zone } = gceSettings.parse(settings);
  const key = settings.serviceAccountJson === undefined ? undefined : (parseKey(settings.serviceAccountJson) as ServiceAccountKey);
  const region = zone.slice(0, zone.lastIndexOf('-'));
  const where = settings.endpoint ?? 'https://compute.googleapis.com';

  const pemBlock = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;
  const keyLines = key ? key.private_key.split(/\\n|\n/).filter((line) => line.length >= 16 && !line.startsWith('-----')) : [];
  const scrub = (text: string) => keyLines.reduce((t, line) => t.split(line).join('[private key]'), text.replace(pemBlock, '[private key]'));

  const refused = (action: string, r: Refusal) => {
    if (r.unreachable) return new VmCloudError(scrub(`Compute Engine at ${where} cannot be reached to ${action}: ${r.message}`), r.unreachable, true);
    // no answer and no connection error: the client itself failed, most often at loading application default credentials
    if (r.status === undefined && !r.reason)
      return new VmCloudError(scrub(`Gyre's Compute Engine client could not ${action} in ${project}/${zone}: ${r.message}`), 'clientError', false);
    const code = r.reason ?? (r.status ? `HTTP_${r.status}` : 'UNKNOWN');
    const hint =
      r.status === 401
        ? ': check serviceAccountJson (a deleted or wrong key) or the application default credentials'
        : r.reason === 'forbidden' || (r.status === 403 && !retryable(r))
          ? `: grant the service account roles/compute.instanceAdmin.v1 (and roles/iam.serviceAccountUser) in project ${project}`
          : r.reason?.includes('RESOURCE_POOL_EXHAUSTED')
            ? `: zone ${zone} has no capacity for it now; Gyre asks again later`
            : '';
    const status = r.status ? `HTTP ${r.status} ` : '';
    return new VmCloudError(scrub(`Compute Engine refused to ${action} in ${project}/${zone}: ${r.message} (${status}${code})${hint}`), code, retryable(r));
  };

  type Clients = { instances: InstancesClient; operations: ZoneOperationsClient };
  let clients: Promise<Clients> | undefined;
  // loaded on first use: the library and its protos cost memory (and seconds) most installations never need
  const connect = () =>
    (clients ??= import('@google-cloud/compute').then(async ({ InstancesClient, ZoneOperationsClient }) => {
      const url = settings.endpoint ? new URL(settings.endpoint) : undefined;
      const protocol = url?.protocol.slice(0, -1);
      const endpoint = url ? { apiEndpoint: url.hostname, port: Number(url.port) || (protocol === 'https' ? 443 : 80), protocol } : {};
      // scopes: [] makes the library sign a JWT for the API itself rather than trade one for an OAuth token.
      // The library warns that `credentials` is deprecated for its `auth` object; building that (a JWT of
      // google-auth-library) would import a package Gyre does not declare, so the one warning stays.
      const instances = new InstancesClient({
        ...endpoint,
        projectId: project,
        fallback: true,
        ...(key && { credentials: key, scopes: [] }),
      });
      const operations = new ZoneOperationsClient({ ...endpoint, projectId: project, fallback: true, auth: instances.auth });
      // Set up (credentials loaded) before any call: a client whose set-up failed keeps failing, and each of
      // its methods then leaves a rejected promise nobody handles (`initialize().catch(err => { throw err })`).
      try {
        await Promise.all([instances.initialize(), operations.initialize()]);
      } catch (e) {
        clients = undefined;
        throw e;
      }
      return { instances, operations };
    }));

  /** One attempt (no library retries), abandoned when `signal` aborts; a refusal becomes a VmCloudError that keeps what was answered. */
  const call = async <T>(action: string, run: (c: Clients) => Promise<T>, signal: AbortSignal | undefined): Promise<T> => {
    signal?.throwIfAborted();
    try {
      const attempt = connect().then(run);
      if (!signal) return await attempt;
      return await new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        attempt.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } catch (e) {
      if (e instanceof VmCloudError || (signal?.aborted && e === signal.reason)) throw e;
      const refusal = readRefusal(e);
      throw Object.assign(refused(action, refusal), { refusal });
    }
  };
  const refusalOf = (e: unknown) => (e as { refusal?: Refusal }).refusal;
  const isNotFound = (e: unknown) => refusalOf(e)?.status === 404;
  const once = (timeout: number) => ({ retry: null, timeout });

  /** Waits for an operation to be DONE (zoneOperations.wait answers within 2 minutes, DONE or not) and returns it. */
  const finish = async (action: string, started: Operation, signal: AbortSignal | undefined) => {
    const deadline = Date.now() + operationTimeoutMs;
    let op = started;
    while (String(op.status) !== 'DONE') {
      if (Date.now() > deadline)
        throw new VmCloudError(
          `Compute Engine did not finish operation ${op.name} to ${action} within ${operationTimeoutMs / 60_000} minutes`,
          'OPERATION_TIMEOUT',
          true,
        );
      const name = op.name ?? '';
      [op] = await call(action, ({ operations }) => operations.wait({ project, zone, operation: name }, once(waitTimeoutMs)), signal);
    }
    return op;
  };

  const get = async (name: string, signal: AbortSignal | undefined): Promise<Instance | null> => {
    try {
      const [instance] = await call(
        `read instance ${name}`,
        ({ instances }) => instances.get({ project, zone, instance: name }, once(requestTimeoutMs)),
        signal,
      );
      return instance;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };
  const view = (instance: Instance): VmInstance => ({
    cloudId: instance.name ?? '',
    name: instance.labels?.[gyreInstanceLabel] ?? instance.name ?? '',
    state: states[String(instance.status)] ?? 'pending',
    address: instance.networkInterfaces?.[0]?.networkIP || null,
  });
  /** An insert refused as existing: the instance this name started before, if it is Gyre's. */
  const existing = async (name: string, signal: AbortSignal | undefined) => {
    const instance = await get(name, signal);
    if (!instance) throw new VmCloudError(`instance ${name} exists in ${project}/${zone} but is being deleted: start it again later`, 'alreadyExists', true);
    if (instance.labels?.[managedByLabel.key] !== managedByLabel.value || instance.labels?.[gyreInstanceLabel] !== name)
      throw new VmCloudError(
        `an instance named ${name} exists in ${project}/${zone} without the label ${managedByLabel.key}=${managedByLabel.value}: Gyre did not start it; delete or rename it`,
        'alreadyExists',
        false,
      );
    return view(instance);
  };
  const alreadyExists = (r: Refusal | undefined | null) => r?.status === 409 || r?.reason === 'alreadyExists' || r?.reason === 'RESOURCE_ALREADY_EXISTS';

  return {
    provider: 'GCP',
    async launch(launch: VmLaunch, signal?: AbortSignal) {
      const { name } = launch;
      const action = `start instance ${name}`;
      const labels = { [managedByLabel.key]: managedByLabel.value, [gyreInstanceLabel]: name };
      const machineType = launch.machineType.includes('/') ? launch.machineType : `zones/${zone}/machineTypes/${launch.machineType}`;
      const network = settings.network.includes('/') ? settings.network : `global/networks/${settings.network}`;
      const subnetwork =
        settings.subnetwork && (settings.subnetwork.includes('/') ? settings.subnetwork : `regions/${region}/subnetworks/${settings.subnetwork}`);
      // Windows images run a PowerShell start-up script from their own key (compute/docs/instances/startup-scripts/windows)
      const scriptKey = launch.vmType === 'WINDOWS' ? 'windows-startup-script-ps1' : 'startup-script';
      const instanceResource: Instance = {
        name,
        machineType,
        labels,
        disks: [{ boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: { sourceImage: launch.image, labels } }],
        networkInterfaces: [{ network, ...(subnetwork && { subnetwork }) }],
        metadata: { items: [{ key: scriptKey, value: launch.startupScript }] },
      };
      let started: Operation;
      try {
        const [lro] = await call(action, ({ instances }) => instances.insert({ project, zone, instanceResource }, once(requestTimeoutMs)), signal);
        // the REST transport's "long-running operation" holds the compute Operation as it was answered
        started = lro.latestResponse as unknown as Operation;
      } catch (e) {
        if (alreadyExists(refusalOf(e))) return existing(name, signal);
        throw e;
      }
      const done = await finish(action, started, signal);
      const failure = operationRefusal(done);
      if (alreadyExists(failure)) return existing(name, signal);
      if (failure) throw refused(action, failure);
      const instance = await get(name, signal);
      if (!instance) throw new VmCloudError(`instance ${name} was started in ${project}/${zone} but is gone: start it again`, 'notFound', true);
      return view(instance);
    },
    async describe(cloudId: string, signal?: AbortSignal) {
      const instance = await get(cloudId, signal);
      return instance && view(instance);
    },
    async terminate(cloudId: string, signal?: AbortSignal) {
      const action = `delete instance ${cloudId}`;
      let started: Operation;
      try {
        const [lro] = await call(action, ({ instances }) => instances.delete({ project, zone, instance: cloudId }, once(requestTimeoutMs)), signal);
        started = lro.latestResponse as unknown as Operation;
      } catch (e) {
        if (isNotFound(e)) return;
        throw e;
      }
      const failure = operationRefusal(await finish(action, started, signal));
      // deleted meanwhile by another delete
      if (failure && failure.status !== 404 && failure.reason !== 'RESOURCE_NOT_FOUND') throw refused(action, failure);
    },
    async close() {
      const open = await clients?.catch(() => undefined);
      clients = undefined;
      if (open) await Promise.all([open.instances.close(), open.operations.close()]);
    },
  };
};

/**
 * A stand-in for the parts of Compute Engine's REST API v1 that Gyre's VM service uses, on 127.0.0.1,
 * written from the API reference (cloud.google.com/compute/docs/reference/rest/v1, cited as
 * "rest/<resource>"): instances.insert, get and delete, and zoneOperations.get and wait, in one project
 * and zone. An instance boots by running its `startup-script` metadata with `sh` as a child process
 * group of its own; its address is 127.0.0.1. Not Compute Engine: no images, machine types or networks
 * are checked beyond their form, and an operation is DONE after `operationMs` rather than when work ends.
 *
 * Errors are the API's error bodies, `{error: {code, message, errors: [{message, domain, reason}]}}`;
 * an operation that fails is DONE with `error.errors[{code, message}]` and `httpErrorStatusCode`
 * (rest/zoneOperations: Operation).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, STATUS_CODES, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GceStandInOptions {
  projectId: string;
  zone: string;
  /**
   * When given, every call must carry `Authorization: Bearer <JWT>` signed RS256 by this account's key,
   * with iss and sub the account and aud https://compute.googleapis.com/ (a self-signed service account
   * JWT); any other call is refused with 401. Without it, calls are not checked.
   */
  serviceAccount?: { clientEmail: string; publicKeyPem: string };
  /** Whether a booting instance runs its `startup-script` (true unless false); either way it becomes RUNNING. */
  boot?: boolean;
  /** The longest a zoneOperations.wait holds before it answers an operation not yet DONE (ms): 2 minutes, as the API's. */
  waitMs?: number;
  /** How long an operation runs before it is DONE (ms); 0 unless set. */
  operationMs?: number;
}
export type GceCallKind = 'insert' | 'get' | 'delete' | 'operation';
export interface GceFailure {
  /** The HTTP status: of the answer, or the operation's `httpErrorStatusCode`. */
  code: number;
  /** The error's `reason` (`rateLimitExceeded`), or an operation error's `code` (`ZONE_RESOURCE_POOL_EXHAUSTED`). */
  reason: string;
  message?: string;
  /** Insert and delete: the call is accepted and its operation ends DONE with this error. */
  inOperation?: boolean;
}
export interface GceCall {
  method: string;
  path: string;
  kind: GceCallKind | 'other';
  status: number;
}
type Status = 'PROVISIONING' | 'STAGING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'SUSPENDING' | 'SUSPENDED' | 'REPAIRING' | 'TERMINATED';

interface Vm {
  name: string;
  id: string;
  status: Status;
  created: string;
  machineType: string;
  labels: Record<string, string>;
  metadata: Array<{ key: string; value: string }>;
  diskLabels: Record<string, string>;
  network: string;
  subnetwork: string | undefined;
  child: ChildProcess | null;
  output: string;
  dir: string;
}
interface Op {
  id: string;
  name: string;
  operationType: 'insert' | 'delete';
  target: string;
  targetId: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  insertTime: string;
  endTime?: string;
  error?: { errors: Array<{ code: string; message: string }> };
  httpErrorStatusCode?: number;
  httpErrorMessage?: string;
}
class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const api = 'https://www.googleapis.com/compute/v1';
const audience = 'https://compute.googleapis.com/';
/** rest/instances: "The name must be 1-63 characters long and match the regular expression [a-z]([-a-z0-9]*[a-z0-9])?" */
const namePattern = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** Label keys start with a lowercase letter; keys and values hold lowercase letters, digits, _ and -, up to 63 (compute/docs/labeling-resources). */
const labelKey = /^[a-z][a-z0-9_-]{0,62}$/;
const labelValue = /^[a-z0-9_-]{0,63}$/;
const outputLimit = 1 << 20;
const uint64 = () => BigInt(`0x${randomBytes(8).toString('hex')}`).toString();
const domainOf = (reason: string) => (/rateLimitExceeded|quotaExceeded/i.test(reason) ? 'usageLimits' : 'global');

export const startGceStandIn = async (options: GceStandInOptions) => {
  const { projectId: project, zone } = options;
  const region = zone.slice(0, zone.lastIndexOf('-'));
  const zoneUrl = `${api}/projects/${project}/zones/${zone}`;
  const root = mkdtempSync(join(tmpdir(), 'gce-standin-'));
  const vms = new Map<string, Vm>();
  const ops = new Map<string, Op>();
  const calls: GceCall[] = [];
  const failures: Record<GceCallKind, Array<GceFailure & { times: number }>> = { insert: [], get: [], delete: [], operation: [] };
  const timers = new Set<NodeJS.Timeout>();
  let waiters: Array<() => void> = [];
  let held = false;
  let closed = false;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) run();
    }, ms);
    timers.add(timer);
  };
  const changed = () => {
    const w = waiters;
    waiters = [];
    for (const wake of w) wake();
  };
  const defaultMessage = (reason: string, target: string) =>
    ({
      rateLimitExceeded: `Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com' for consumer 'project_number:${project}'.`,
      ZONE_RESOURCE_POOL_EXHAUSTED: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
      QUOTA_EXCEEDED: `Quota 'CPUS' exceeded.  Limit: 24.0 in region ${region}.`,
      forbidden: `Required 'compute.instances.create' permission for '${target}'`,
      notFound: `The resource '${target}' was not found`,
      alreadyExists: `The resource '${target}' already exists`,
    })[reason] ?? reason;
  /** The next injected failure of this kind, used up. */
  const takeFailure = (kind: GceCallKind) => {
    const queue = failures[kind];
    const next = queue[0];
    if (!next) return null;
    if (--next.times <= 0) queue.shift();
    return next;
  };

  const signalGroup = (child: ChildProcess | null) => {
    // the whole group: a script that has ended may have left children running (`sleep 600 &`)
    if (!child?.pid) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  /** The guest's start-up: its startup-script runs with sh in a process group of its own (rest/instances: metadata; compute/docs/instances/startup-scripts). */
  const bootVm = (vm: Vm) => {
    if (vm.status !== 'STAGING' || held) return;
    vm.status = 'RUNNING';
    const script = vm.metadata.find((m) => m.key === 'startup-script')?.value;
    if (options.boot !== false && script !== undefined) {
      const child = spawn('sh', ['-c', script], { cwd: vm.dir, env: { ...process.env, TMPDIR: vm.dir }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (chunk: Buffer) => {
        if (vm.output.length < outputLimit) vm.output += chunk.toString('utf8');
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      child.on('error', (e) => keep(Buffer.from(`startup-script: ${e.message}\n`)));
      vm.child = child;
    }
    changed();
  };

  const operation = (operationType: Op['operationType'], vm: Pick<Vm, 'name' | 'id'>): Op => {
    const op: Op = {
      id: uint64(),
      name: `operation-${Date.now()}-${randomBytes(6).toString('hex')}`,
      operationType,
      target: vm.name,
      targetId: vm.id,
      status: 'RUNNING',
      insertTime: new Date().toISOString(),
    };
    ops.set(op.name, op);
    return op;
  };
  const complete = (op: Op, failure?: GceFailure) => {
    op.status = 'DONE';
    op.endTime = new Date().toISOString();
    if (failure) {
      op.error = {
        errors: [
          { code: failure.reason, message: failure.message ?? defaultMessage(failure.reason, `projects/${project}/zones/${zone}/instances/${op.target}`) },
        ],
      };
      op.httpErrorStatusCode = failure.code;
      op.httpErrorMessage = (STATUS_CODES[failure.code] ?? '').toUpperCase();
    }
    changed();
  };
  const opJson = (op: Op) => ({
    kind: 'compute#operation',
    id: op.id,
    name: op.name,
    zone: zoneUrl,
    operationType: op.operationType,
    targetLink: `${zoneUrl}/instances/${op.target}`,
    targetId: op.targetId,
    status: op.status,
    user: options.serviceAccount?.clientEmail ?? 'user@example.com',
    progress: op.status === 'DONE' ? 100 : 0,
    insertTime: op.insertTime,
    startTime: op.insertTime,
    ...(op.endTime && { endTime: op.endTime }),
    ...(op.error && { error: op.error, httpErrorStatusCode: op.httpErrorStatusCode, httpErrorMessage: op.httpErrorMessage }),
    selfLink: `${zoneUrl}/operations/${op.name}`,
  });
  const vmJson = (vm: Vm) => ({
    kind: 'compute#instance',
    id: vm.id,
    creationTimestamp: vm.created,
    name: vm.name,
    status: vm.status,
    zone: zoneUrl,
    machineType: `${zoneUrl}/machineTypes/${vm.machineType}`,
    labels: vm.labels,
    labelFingerprint: 'gyre-standin',
    metadata: { kind: 'compute#metadata', fingerprint: 'gyre-standin', items: vm.metadata },
    disks: [
      {
        kind: 'compute#attachedDisk',
        type: 'PERSISTENT',
        mode: 'READ_WRITE',
        source: `${zoneUrl}/disks/${vm.name}`,
        deviceName: vm.name,
        index: 0,
        boot: true,
        autoDelete: true,
      },
    ],
    networkInterfaces: [
      {
        kind: 'compute#networkInterface',
        name: 'nic0',
        network: `${api}/projects/${project}/${vm.network}`,
        ...(vm.subnetwork && { subnetwork: `${api}/projects/${project}/${vm.subnetwork}` }),
        networkIP: '127.0.0.1',
      },
    ],
    selfLink: `${zoneUrl}/instances/${vm.name}`,
  });

  /** rest/instances/insert: the Instance resource, checked for what the API itself refuses with 400. */
  const insert = (body: Record<string, any>) => {
    const invalid = (field: string, why: string) => new ApiError(400, 'invalid', `Invalid value for field '${field}': ${why}`);
    const name = String(body.name ?? '');
    if (!namePattern.test(name)) throw invalid('resource.name', `'${name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`);
    const machine = /^(?:.*\/)?zones\/([^/]+)\/machineTypes\/([a-z0-9-]+)$/.exec(String(body.machineType ?? ''));
    if (!machine || machine[1] !== zone) throw invalid('resource.machineType', `'${body.machineType}'. Must be zones/${zone}/machineTypes/<type>`);
    const labels = (body.labels ?? {}) as Record<string, string>;
    const checkLabels = (field: string, l: Record<string, string>) => {
      for (const [k, v] of Object.entries(l)) if (!labelKey.test(k) || !labelValue.test(String(v))) throw invalid(field, `'${k}=${v}' is not a valid label`);
    };
    checkLabels('resource.labels', labels);
    const disks = (body.disks ?? []) as Array<Record<string, any>>;
    const bootDisk = disks.find((d) => d.boot);
    if (!bootDisk || !(bootDisk.source || bootDisk.initializeParams?.sourceImage))
      throw new ApiError(400, 'required', "Invalid value for field 'resource.disks': ''. Boot disk must be specified.");
    checkLabels('resource.disks[0].initializeParams.labels', bootDisk.initializeParams?.labels ?? {});
    const nic = (body.networkInterfaces ?? [])[0] as { network?: string; subnetwork?: string } | undefined;
    if (!nic?.network && !nic?.subnetwork)
      throw new ApiError(400, 'required', "Invalid value for field 'resource.networkInterfaces': ''. At least one network interface is required.");
    // "a full or partial URL": global/networks/<name>, projects/<p>/global/networks/<name>, https://…; likewise regions/<region>/subnetworks/<name>
    const network = /(?:^|\/)(global\/networks\/[a-z0-9-]+)$/.exec(nic.network ?? 'global/networks/default')?.[1];
    if (!network) throw invalid('resource.networkInterfaces[0].network', `'${nic.network}'. Must be a URL or path such as global/networks/default`);
    const subnetwork = nic.subnetwork === undefined ? undefined : /(?:^|\/)(regions\/[a-z0-9-]+\/subnetworks\/[a-z0-9-]+)$/.exec(nic.subnetwork)?.[1];
    if (nic.subnetwork !== undefined && !subnetwork?.startsWith(`regions/${region}/`))
      throw invalid('resource.networkInterfaces[0].subnetwork', `'${nic.subnetwork}'. Must be a subnetwork of region ${region}`);
    const target = `projects/${project}/zones/${zone}/instances/${name}`;
    if (vms.has(name)) throw new ApiError(409, 'alreadyExists', defaultMessage('alreadyExists', target));
    const id = uint64();
    const failure = takeFailure('insert');
    if (failure && !failure.inOperation) throw new ApiError(failure.code, failure.reason, failure.message ?? defaultMessage(failure.reason, target));
    const op = operation('insert', { name, id });
    if (failure) {
      later(options.operationMs ?? 0, () => complete(op, failure));
      return op;
    }
    const vm: Vm = {
      name,
      id,
      status: 'PROVISIONING',
      created: new Date().toISOString(),
      machineType: machine[2]!,
      labels,
      metadata: ((body.metadata?.items ?? []) as Array<{ key: string; value?: string }>).map((m) => ({ key: m.key, value: m.value ?? '' })),
      diskLabels: bootDisk.initializeParams?.labels ?? {},
      network,
      subnetwork,
      child: null,
      output: '',
      dir: mkdtempSync(join(root, `${name}-`)),
    };
    vms.set(name, vm);
    later(options.operationMs ?? 0, () => {
      if (vms.get(name) !== vm) return complete(op);
      vm.status = 'STAGING';
      complete(op);
      bootVm(vm);
    });
    return op;
  };
  /** rest/instances/delete: the instance stops (its processes are killed) and is gone when the operation is DONE. */
  const remove = (name: string) => {
    const target = `projects/${project}/zones/${zone}/instances/${name}`;
    const vm = vms.get(name);
    if (!vm) throw new ApiError(404, 'notFound', defaultMessage('notFound', target));
    const failure = takeFailure('delete');
    if (failure && !failure.inOperation) throw new ApiError(failure.code, failure.reason, failure.message ?? defaultMessage(failure.reason, target));
    const op = operation('delete', vm);
    if (failure) {
      later(options.operationMs ?? 0, () => complete(op, failure));
      return op;
    }
    vm.status = 'STOPPING';
    signalGroup(vm.child);
    later(options.operationMs ?? 0, () => {
      if (vms.get(name) === vm) vms.delete(name);
      complete(op);
    });
    return op;
  };
  /** rest/zoneOperations/wait: holds until the operation is DONE or the wait ends, then answers it as it is. */
  const waitFor = async (op: Op) => {
    const deadline = Date.now() + (options.waitMs ?? 120_000);
    while (op.status !== 'DONE' && Date.now() < deadline && !closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return op;
  };

  /** A self-signed service account JWT (developers.google.com/identity/protocols/oauth2/service-account#jwt-auth), checked as Google checks it. */
  const authenticate = (req: IncomingMessage) => {
    const account = options.serviceAccount;
    if (!account) return;
    const refuse = () =>
      new ApiError(
        401,
        'authError',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    const token = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(String(req.headers.authorization ?? ''));
    if (!token) throw refuse();
    const [, head = '', body = '', signature = ''] = token;
    try {
      const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      const now = Date.now() / 1000;
      const signed = header.alg === 'RS256' && verify('RSA-SHA256', Buffer.from(`${head}.${body}`), account.publicKeyPem, Buffer.from(signature, 'base64url'));
      if (!signed || claims.iss !== account.clientEmail || claims.sub !== account.clientEmail || claims.aud !== audience) throw refuse();
      if (!(claims.exp > now - 30) || !(claims.iat < now + 300)) throw refuse();
    } catch {
      throw refuse();
    }
  };

  const route = async (
    req: IncomingMessage,
    path: string,
    body: Record<string, any>,
  ): Promise<{ kind: GceCallKind | 'other'; answer: () => Promise<unknown> }> => {
    const m = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/(instances|operations)(?:\/([^/]+))?(\/wait)?$/.exec(path);
    const method = req.method ?? 'GET';
    if (!m) return { kind: 'other', answer: () => Promise.reject(new ApiError(404, 'notFound', `The requested URL ${path} was not found on this server.`)) };
    const [, p, z, collection, name, wait] = m;
    const kind: GceCallKind =
      collection === 'operations' ? 'operation' : method === 'POST' && !name ? 'insert' : method === 'DELETE' && name ? 'delete' : 'get';
    const answer = async () => {
      authenticate(req);
      if (p !== project) throw new ApiError(404, 'notFound', `The resource 'projects/${p}' was not found`);
      if (z !== zone) throw new ApiError(400, 'invalid', `Invalid value for field 'zone': '${z}'. Unknown zone.`);
      if (kind === 'insert') return opJson(insert(body));
      if (kind === 'delete') return opJson(remove(decodeURIComponent(name!)));
      if (kind === 'get' && method === 'GET' && name && !wait) {
        const failure = takeFailure('get');
        const target = `projects/${project}/zones/${zone}/instances/${name}`;
        if (failure) throw new ApiError(failure.code, failure.reason, failure.message ?? defaultMessage(failure.reason, target));
        const vm = vms.get(decodeURIComponent(name));
        if (!vm) throw new ApiError(404, 'notFound', defaultMessage('notFound', target));
        return vmJson(vm);
      }
      if (kind === 'operation' && name && ((method === 'GET' && !wait) || (method === 'POST' && wait))) {
        const failure = takeFailure('operation');
        if (failure)
          throw new ApiError(
            failure.code,
            failure.reason,
            failure.message ?? defaultMessage(failure.reason, `projects/${project}/zones/${zone}/operations/${name}`),
          );
        const op = ops.get(decodeURIComponent(name));
        if (!op) throw new ApiError(404, 'notFound', defaultMessage('notFound', `projects/${project}/zones/${zone}/operations/${name}`));
        return opJson(wait ? await waitFor(op) : op);
      }
      throw new ApiError(405, 'httpMethodNotAllowed', `HTTP method ${method} is not supported by this URL`);
    };
    return { kind, answer };
  };

  const send = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://compute');
    const call: GceCall = { method: req.method ?? 'GET', path: url.pathname, kind: 'other', status: 0 };
    calls.push(call);
    let raw = '';
    for await (const chunk of req) raw += chunk;
    try {
      let body: Record<string, any> = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        throw new ApiError(400, 'parseError', 'Parse Error');
      }
      const routed = await route(req, url.pathname, body);
      call.kind = routed.kind;
      const answer = await routed.answer();
      call.status = 200;
      send(res, 200, answer);
    } catch (e) {
      const { code, reason, message } = e instanceof ApiError ? e : new ApiError(500, 'backendError', String(e));
      call.status = code;
      // the classic Compute Engine error body (cloud.google.com/compute/docs/api/how-tos/api-requests-responses#handling_api_errors)
      send(res, code, {
        error: {
          code,
          message,
          errors: [{ message, domain: domainOf(reason), reason, ...(code === 401 && { location: 'Authorization', locationType: 'header' }) }],
          ...(code === 401 && { status: 'UNAUTHENTICATED' }),
        },
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    /** Every request, with what it was taken for and the status it was answered. */
    calls,
    /** The next `times` calls of this kind fail so (an operation's get and wait count as `operation`). */
    failNext(kind: GceCallKind, failure: GceFailure, times = 1) {
      failures[kind].push({ ...failure, times });
    },
    /** While held, new instances stay STAGING without running; released, the held ones boot. */
    holdBoot(hold: boolean) {
      held = hold;
      if (!hold) for (const vm of vms.values()) bootVm(vm);
    },
    /** Sets an instance's status as if it had been stopped, suspended or repaired from outside; any status but RUNNING kills its processes. */
    setStatus(name: string, status: Status) {
      const vm = vms.get(name);
      if (!vm) throw new Error(`no instance ${name}`);
      vm.status = status;
      if (status !== 'RUNNING') signalGroup(vm.child);
      changed();
    },
    instances: () =>
      [...vms.values()].map((vm) => ({
        name: vm.name,
        id: vm.id,
        status: vm.status,
        labels: { ...vm.labels },
        metadata: Object.fromEntries(vm.metadata.map((m) => [m.key, m.value])),
        diskLabels: { ...vm.diskLabels },
        machineType: vm.machineType,
        network: vm.network,
        subnetwork: vm.subnetwork,
        /** The start-up script's process (the leader of its group), once booted. */
        pid: vm.child?.pid ?? null,
        output: () => vm.output,
      })),
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      for (const vm of vms.values()) signalGroup(vm.child);
      changed();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(root, { recursive: true, force: true });
    },
  };
};
export type GceStandIn = Awaited<ReturnType<typeof startGceStandIn>>;

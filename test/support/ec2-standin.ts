/**
 * A stand-in for the Amazon EC2 Query API on 127.0.0.1, for tests of Gyre's EC2 adapter through the real
 * AWS SDK (`AWS_ENDPOINT_URL_EC2=<url>`). Written from the EC2 API reference (docs.aws.amazon.com/AWSEC2/latest/APIReference,
 * cited per action) and the Signature Version 4 guide (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html):
 * form-encoded POSTs with `Action` and `Version=2016-11-15`, answered in XML of that version's namespace;
 * errors as `<Response><Errors><Error><Code>…` ("Error codes for the Amazon EC2 API").
 *
 * Every request's SigV4 signature is recomputed from its canonical request with the one known secret.
 * An instance "boots" by running its user data with `sh` as a detached process group on this machine,
 * whose private address is then 127.0.0.1. Not EC2: one instance per RunInstances, no stop/start,
 * no filters but instance ids, no volumes apart from each instance's root volume, and a Windows
 * instance (`<powershell>` user data) runs nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StandInCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}
export interface Ec2StandInOptions {
  credentials?: StandInCredentials;
  /** Whether instances boot: run their user data and become running (default true). Without, they become running and run nothing. */
  boot?: boolean;
  /** The AMIs there are; without it any ImageId launches. */
  images?: string[];
  /** How long a terminated instance's script has between SIGTERM and SIGKILL (default 1000 ms). */
  killGraceMs?: number;
}
type StateName = 'pending' | 'running' | 'shutting-down' | 'terminated';
export interface StandInInstance {
  id: string;
  volumeId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  subnetId: string;
  securityGroupIds: string[];
  keyName: string | null;
  clientToken: string;
  /** The user data, decoded. */
  userData: string;
  tags: Record<string, string>;
  volumeTags: Record<string, string>;
  state: StateName;
  privateIpAddress: string | null;
  launchTime: string;
  /** The booted script's process (and process group) id, while it has one. */
  pid: number | null;
  /** What the script wrote to stdout and stderr, as it came. */
  output(): string;
}
interface Held extends Omit<StandInInstance, 'output'> {
  /** The request's parameters less ClientToken, to tell an idempotent retry from a reuse of the token (IdempotentParameterMismatch). */
  fingerprint: string;
  out: string[];
  child: ChildProcess | null;
}
class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const xmlns = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const ownerId = '123456789012';
const userDataLimit = 16 * 1024; // "User data is limited to 16 KB, in raw form, before it is base64-encoded" (RunInstances, UserData)
/** Instance state codes (API reference: InstanceState): the high byte is internal, the low one the state. */
const stateCodes: Record<StateName, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 };
const hex = (bytes: number) => randomBytes(bytes).toString('hex').slice(0, 17);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
/** `name` with one element per value; undefined and null are left out, arrays are `<item>` lists. */
const xml = (name: string, value: unknown): string => {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v) => xml('item', v)).join('')}</${name}>`;
  if (typeof value === 'object')
    return `<${name}>${Object.entries(value)
      .map(([k, v]) => xml(k, v))
      .join('')}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
};
/** The numbered members of a Query list: `prefix.1`, `prefix.2`, … (or `prefix.1.suffix` …) until one is missing. */
const list = (params: Record<string, string>, prefix: string, suffix = '') => {
  const out: string[] = [];
  for (let n = 1; params[`${prefix}.${n}${suffix}`] !== undefined; n++) out.push(params[`${prefix}.${n}${suffix}`]!);
  return out;
};
/** RFC 3986 encoding as SigV4 has it: everything but A-Z a-z 0-9 - _ . ~ is %XX. */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** True when the process is gone: signal 0 fails, or it is a zombie no one has reaped yet (state Z in /proc/<pid>/stat). */
export const processGone = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
};
const groupGone = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
};
const signalGroup = (pgid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pgid, signal);
  } catch {}
};

export const startEc2StandIn = async (options: Ec2StandInOptions = {}) => {
  const credentials = options.credentials ?? { accessKeyId: 'AKIAGYRESTANDIN00001', secretAccessKey: randomBytes(30).toString('base64') };
  const killGraceMs = options.killGraceMs ?? 1000;
  const root = mkdtempSync(join(tmpdir(), 'ec2-standin-'));
  const instances = new Map<string, Held>();
  const tokens = new Map<string, string>(); // ClientToken → instance id
  const calls: Array<{ action: string; params: Record<string, string> }> = [];
  const failures = new Map<string, Array<{ code: string; message: string; status: number }>>();
  const control = { held: false, closed: false };
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  // --- Signature Version 4 (IAM User Guide: "Create a signed AWS API request") ---
  const verify = (req: IncomingMessage, body: Buffer) => {
    const auth = req.headers.authorization;
    if (!auth)
      throw new Ec2Error('MissingAuthenticationToken', 'The request must contain either a valid (registered) AWS access key ID or X.509 certificate.', 401);
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m)
      throw new Ec2Error(
        'IncompleteSignature',
        `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. (${auth.split(' ')[0]})`,
        400,
      );
    const [, keyId, date, region, service, signedHeaders, signature] = m as unknown as string[];
    if (keyId !== credentials.accessKeyId) throw new Ec2Error('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const stamp = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!stamp) throw new Ec2Error('IncompleteSignature', 'the request has no valid X-Amz-Date header', 400);
    const names = signedHeaders!.split(';');
    if (!names.includes('host') || !names.includes('x-amz-date'))
      throw new Ec2Error('IncompleteSignature', 'SignedHeaders must include host and x-amz-date', 400);
    if (service !== 'ec2' || date !== amzDate.slice(0, 8))
      throw new Ec2Error('SignatureDoesNotMatch', `Credential should be scoped to a valid date and service: ${date}/${region}/${service}`, 403);
    const at = Date.UTC(+stamp[1]!, +stamp[2]! - 1, +stamp[3]!, +stamp[4]!, +stamp[5]!, +stamp[6]!);
    if (Math.abs(Date.now() - at) > 15 * 60_000) throw new Ec2Error('RequestExpired', `Request has expired. Timestamp date is ${amzDate}`, 400);
    const url = new URL(req.url ?? '/', 'http://ec2');
    // every path segment encoded again, as services other than S3 take it; then the query, sorted by key and value
    const canonicalUri = url.pathname.split('/').map(uriEncode).join('/') || '/';
    const canonicalQuery = [...url.searchParams]
      .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
      .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const canonicalHeaders = names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? '')
            .trim()
            .replace(/\s+/g, ' ')}\n`,
      )
      .join('');
    const canonical = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, sha256(body)].join('\n');
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
    const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date!), region!), service!), 'aws4_request');
    const expected = createHmac('sha256', key).update(toSign).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature!, 'hex')))
      throw new Ec2Error(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
        403,
      );
  };

  // --- instances ---
  const pick = (id: string) => {
    if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
    return instances.get(id);
  };
  const known = (ids: string[]) => {
    const missing = ids.filter((id) => !pick(id));
    if (missing.length === 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
    if (missing.length) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    return ids.map((id) => instances.get(id)!);
  };
  const boot = (i: Held) => {
    if (control.closed || i.state !== 'pending') return;
    i.state = 'running';
    i.privateIpAddress = '127.0.0.1';
    if (options.boot === false || /^\s*<powershell>/.test(i.userData)) return;
    const dir = join(root, i.id);
    const script = join(root, `${i.id}.sh`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(script, i.userData, { mode: 0o700 });
    // the test's environment, less AWS keys an instance would not have; its temporary files its own, as a VM's are
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^AWS_(SECRET_ACCESS_KEY|ACCESS_KEY_ID|SESSION_TOKEN)$/.test(k))),
      TMPDIR: dir,
    };
    const child = spawn('sh', [script], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    i.child = child;
    i.pid = child.pid ?? null;
    child.stdout!.on('data', (c: Buffer) => i.out.push(c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => i.out.push(c.toString('utf8')));
    child.on('error', (e) => i.out.push(`sh: ${e.message}\n`));
  };
  /** Shutting down: SIGTERM to the script's process group, SIGKILL after the grace; terminated when the group is gone. */
  const shutDown = (i: Held) => {
    if (i.state === 'shutting-down' || i.state === 'terminated') return;
    i.state = 'shutting-down';
    const pgid = i.pid;
    if (pgid === null) {
      later(0, () => (i.state = 'terminated'));
      return;
    }
    signalGroup(pgid, 'SIGTERM');
    const killAt = Date.now() + killGraceMs;
    const watch = () => {
      if (groupGone(pgid)) {
        i.state = 'terminated';
        i.pid = null;
        return;
      }
      if (Date.now() >= killAt) signalGroup(pgid, 'SIGKILL');
      later(20, watch);
    };
    later(0, watch);
  };
  const instanceXml = (i: Held) => ({
    instanceId: i.id,
    imageId: i.imageId,
    instanceState: { code: stateCodes[i.state], name: i.state },
    privateDnsName: i.privateIpAddress ? `ip-${i.privateIpAddress.replaceAll('.', '-')}.ec2.internal` : '',
    dnsName: '',
    reason: '',
    keyName: i.keyName,
    amiLaunchIndex: 0,
    instanceType: i.instanceType,
    launchTime: i.launchTime,
    placement: { availabilityZone: 'us-east-1a', groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: i.subnetId,
    vpcId: 'vpc-0gyre0standin0000',
    privateIpAddress: i.privateIpAddress,
    groupSet: i.securityGroupIds.map((groupId) => ({ groupId, groupName: groupId })),
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    blockDeviceMapping: [{ deviceName: '/dev/xvda', ebs: { volumeId: i.volumeId, status: 'attached', attachTime: i.launchTime, deleteOnTermination: true } }],
    virtualizationType: 'hvm',
    clientToken: i.clientToken,
    tagSet: Object.entries(i.tags).map(([key, value]) => ({ key, value })),
    hypervisor: 'xen',
  });

  // --- actions (API reference, per action) ---
  const runInstances = (p: Record<string, string>) => {
    for (const name of ['ImageId', 'MinCount', 'MaxCount'])
      if (!p[name]) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
    if (p.MinCount !== '1' || p.MaxCount !== '1')
      throw new Ec2Error('InvalidParameterValue', 'the EC2 stand-in launches one instance per RunInstances (MinCount = MaxCount = 1)');
    const { ClientToken: token = '', ...rest } = p;
    const fingerprint = JSON.stringify(Object.entries(rest).sort());
    // an idempotent retry answers with the instance the token started (API reference: "Ensuring idempotency")
    if (token) {
      const earlier = tokens.get(token);
      const i = earlier ? instances.get(earlier) : undefined;
      if (i && i.fingerprint !== fingerprint)
        throw new Ec2Error('IdempotentParameterMismatch', `Client token '${token}' was used with different parameters in a previous request.`);
      if (i) return i;
    }
    if (token.length > 64)
      throw new Ec2Error('InvalidParameterValue', `Value (${token}) for parameter clientToken is invalid. Length exceeds maximum of 64 characters.`);
    if (options.images && !options.images.includes(p.ImageId!)) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${p.ImageId}]' does not exist`);
    let userData = '';
    if (p.UserData) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p.UserData) || p.UserData.length % 4 !== 0)
        throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
      const raw = Buffer.from(p.UserData, 'base64');
      if (raw.length > userDataLimit) throw new Ec2Error('InvalidParameterValue', `User data is limited to ${userDataLimit} bytes`);
      userData = raw.toString('utf8');
    }
    const tags = { instance: {} as Record<string, string>, volume: {} as Record<string, string> };
    for (let n = 1; p[`TagSpecification.${n}.ResourceType`] !== undefined; n++) {
      const type = p[`TagSpecification.${n}.ResourceType`]!;
      if (type !== 'instance' && type !== 'volume')
        throw new Ec2Error('InvalidParameterValue', `'${type}' is not a valid taggable resource type for this operation.`);
      const keys = list(p, `TagSpecification.${n}.Tag`, '.Key');
      keys.forEach((k, j) => {
        if (k.startsWith('aws:')) throw new Ec2Error('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved for internal use`);
        tags[type][k] = p[`TagSpecification.${n}.Tag.${j + 1}.Value`] ?? '';
      });
    }
    const i: Held = {
      id: `i-${hex(9)}`,
      volumeId: `vol-${hex(9)}`,
      reservationId: `r-${hex(9)}`,
      imageId: p.ImageId!,
      instanceType: p.InstanceType ?? 'm1.small',
      subnetId: p.SubnetId ?? 'subnet-0gyre0default',
      securityGroupIds: list(p, 'SecurityGroupId'),
      keyName: p.KeyName ?? null,
      clientToken: token,
      userData,
      tags: tags.instance,
      volumeTags: tags.volume,
      state: 'pending',
      privateIpAddress: null,
      launchTime: new Date().toISOString(),
      pid: null,
      fingerprint,
      out: [],
      child: null,
    };
    instances.set(i.id, i);
    if (token) tokens.set(token, i.id);
    if (!control.held) setImmediate(() => boot(i));
    return i;
  };
  const act = (action: string, p: Record<string, string>): string => {
    const requestId = randomUUID();
    const answer = (body: Record<string, unknown>) =>
      `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${xmlns}">${xml('requestId', requestId)}${Object.entries(body)
        .map(([k, v]) => xml(k, v))
        .join('')}</${action}Response>`;
    switch (action) {
      case 'RunInstances': {
        const i = runInstances(p);
        return answer({ reservationId: i.reservationId, ownerId, groupSet: [], instancesSet: [instanceXml(i)] });
      }
      case 'DescribeInstances': {
        const ids = list(p, 'InstanceId');
        const found = ids.length ? known(ids) : [...instances.values()];
        return answer({
          reservationSet: found.map((i) => ({ reservationId: i.reservationId, ownerId, groupSet: [], instancesSet: [instanceXml(i)] })),
        });
      }
      case 'TerminateInstances': {
        const ids = list(p, 'InstanceId');
        if (!ids.length) throw new Ec2Error('MissingParameter', 'The request must contain the parameter InstanceId');
        const changes = known(ids).map((i) => {
          const previous = i.state;
          shutDown(i);
          return {
            instanceId: i.id,
            currentState: { code: stateCodes[i.state], name: i.state },
            previousState: { code: stateCodes[previous], name: previous },
          };
        });
        return answer({ instancesSet: changes });
      }
      case 'CreateTags': {
        const ids = list(p, 'ResourceId');
        if (!ids.length) throw new Ec2Error('MissingParameter', 'The request must contain the parameter ResourceId');
        const keys = list(p, 'Tag', '.Key');
        const targets = ids.map((id) => {
          const i = [...instances.values()].find((x) => x.id === id || x.volumeId === id);
          if (id.startsWith('vol-') && !i) throw new Ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
          if (!i) return known([id])[0]!.tags;
          return i.id === id ? i.tags : i.volumeTags;
        });
        for (const t of targets) for (const [j, k] of keys.entries()) t[k] = p[`Tag.${j + 1}.Value`] ?? '';
        return answer({ return: true });
      }
      default:
        throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  };

  /** Actions whose calls are carried out but not yet answered (holdAnswers), with the answers waiting. */
  const holding = new Map<string, Array<() => void>>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const reply = (status: number, text: string) =>
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', date: new Date().toUTCString(), 'x-amzn-requestid': randomUUID() }).end(text);
    try {
      verify(req, body);
      if (req.method !== 'POST') throw new Ec2Error('InvalidAction', 'the EC2 stand-in takes Query requests as form-encoded POSTs only');
      const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      const { Action: action = '', Version: version, ...rest } = params;
      if (version !== '2016-11-15') throw new Ec2Error('InvalidParameterValue', `the EC2 stand-in answers Version 2016-11-15, not ${version}`);
      calls.push({ action, params: rest });
      const queued = failures.get(action);
      const failure = queued?.shift();
      if (queued && !queued.length) failures.delete(action);
      if (failure) throw new Ec2Error(failure.code, failure.message, failure.status);
      const text = act(action, rest);
      const held = holding.get(action);
      if (held) held.push(() => reply(200, text));
      else reply(200, text);
    } catch (e) {
      const err = e instanceof Ec2Error ? e : new Ec2Error('InternalError', 'An internal error has occurred', 500);
      reply(
        err.status,
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors>${xml('Error', { Code: err.code, Message: err.message })}</Errors>${xml('RequestID', randomUUID())}</Response>`,
      );
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  const view = (i: Held): StandInInstance => {
    const { fingerprint: _f, out, child: _c, ...rest } = i;
    return { ...rest, securityGroupIds: [...i.securityGroupIds], tags: { ...i.tags }, volumeTags: { ...i.volumeTags }, output: () => out.join('') };
  };
  return {
    url: `http://127.0.0.1:${port}`,
    credentials,
    /** Every signed request that reached an action, with its parameters less Action and Version. */
    calls,
    instances: () => [...instances.values()].map(view),
    instance(id: string) {
      const i = instances.get(id);
      if (!i) throw new Error(`the EC2 stand-in has no instance ${id}`);
      return view(i);
    },
    /** From now, calls of `action` are carried out (an instance is launched) but not answered until releaseAnswers: a client that dies meanwhile never hears of it. */
    holdAnswers(action: string) {
      if (!holding.has(action)) holding.set(action, []);
    },
    /** How many answers of `action` are held. */
    heldAnswers: (action: string) => holding.get(action)?.length ?? 0,
    releaseAnswers(action: string) {
      const held = holding.get(action) ?? [];
      holding.delete(action);
      for (const answer of held) answer();
    },
    /** The next `times` calls of `action` are refused with this error. */
    failNext(action: string, code: string, message: string, times = 1, status = 400) {
      failures.set(action, [...(failures.get(action) ?? []), ...Array.from({ length: times }, () => ({ code, message, status }))]);
    },
    /** New instances stay pending, running nothing, until resumeBoot(). */
    holdBoot() {
      control.held = true;
    },
    resumeBoot() {
      control.held = false;
      for (const i of instances.values()) boot(i);
    },
    /** As EC2 some time after an instance ends: it no longer knows the instance (its script, if any, is killed). */
    forget(id: string) {
      const i = instances.get(id);
      if (i?.pid) signalGroup(i.pid, 'SIGKILL');
      instances.delete(id);
      if (i && tokens.get(i.clientToken) === id) tokens.delete(i.clientToken);
    },
    async close() {
      control.closed = true;
      for (const t of timers) clearTimeout(t);
      for (const i of instances.values()) if (i.pid) signalGroup(i.pid, 'SIGKILL');
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(root, { recursive: true, force: true });
    },
  };
};
export type Ec2StandIn = Awaited<ReturnType<typeof startEc2StandIn>>;

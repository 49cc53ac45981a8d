/**
 * The Nomad port over Nomad's HTTP API (developer.hashicorp.com/nomad/api-docs): node:http or node:https
 * through one keep-alive agent, the ACL token in `X-Nomad-Token`, Gyre's namespace on job calls and its
 * region on every call. Errors are plain text (api-docs: "HTTP API"); the token never appears in one.
 */
import { Agent as HttpAgent, type ClientRequest, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  type BlockingOptions,
  type Indexed,
  type Nomad,
  type NomadAllocation,
  NomadError,
  type NomadEvaluation,
  type NomadJob,
  type NomadNode,
} from './port.ts';

export interface NomadSettings {
  /** e.g. http://127.0.0.1:4646 or https://nomad.example.com */
  readonly address: string;
  /** An ACL token's secret ID, sent as `X-Nomad-Token` on every call. */
  readonly token?: string;
  /** The namespace of every job call (Nomad's own is `default`). */
  readonly namespace: string;
  readonly region?: string;
  /** PEM contents. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** The longest a call that does not block may take (ms); 10 s unless set. */
  readonly requestTimeoutMs?: number;
}

interface Call {
  readonly method: 'GET' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs: number;
  /** A job Nomad does not know: answered as the caller says, not as an error. */
  readonly notFoundIsAnswer?: boolean;
}
interface Answer {
  readonly status: number;
  readonly index: number;
  readonly text: string;
}

/** Without `wait` a blocking query holds up to 5 minutes; Nomad adds up to wait/16 of jitter (api-docs: Blocking Queries). */
const defaultWaitMs = 300_000;
const errorTextLength = 300;

export const createNomadClient = (settings: NomadSettings): Nomad & { close(): void } => {
  const base = new URL(settings.address);
  const secure = base.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true, ...settings.tls }) : new HttpAgent({ keepAlive: true });
  const send = secure ? httpsRequest : httpRequest;
  const prefix = base.pathname.replace(/\/+$/, '');
  const requestTimeoutMs = settings.requestTimeoutMs ?? 10_000;
  const { token } = settings;
  const headers: Record<string, string> = { accept: 'application/json', ...(token && { 'X-Nomad-Token': token }) };

  const scrub = (text: string) => (token ? text.replaceAll(token, '[token]').replaceAll(encodeURIComponent(token), '[token]') : text);
  const unreachable = (reason: string) => new NomadError(0, scrub(`Nomad at ${settings.address} cannot be reached: ${reason}`));

  const call = (c: Call) =>
    new Promise<Answer>((resolve, reject) => {
      if (c.signal?.aborted) return reject(c.signal.reason);
      const url = new URL(prefix + c.path, base);
      for (const [name, value] of Object.entries({ ...c.query, region: settings.region })) if (value !== undefined) url.searchParams.set(name, value);
      const body = c.body === undefined ? undefined : JSON.stringify(c.body);
      let settled = false;
      let req: ClientRequest | undefined;
      const settle = (error: unknown, answer?: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        c.signal?.removeEventListener('abort', onAbort);
        if (answer) return resolve(answer);
        req?.destroy();
        reject(error);
      };
      const onAbort = () => settle(c.signal!.reason);
      const timer = setTimeout(() => settle(unreachable(`no answer within ${c.timeoutMs} ms`)), c.timeoutMs);
      c.signal?.addEventListener('abort', onAbort, { once: true });
      const requestHeaders =
        body === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
      req = send(url, { method: c.method, agent, headers: requestHeaders }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          const answer = { status, index: Number(res.headers['x-nomad-index'] ?? 0) || 0, text };
          if ((status >= 200 && status < 300) || (status === 404 && c.notFoundIsAnswer)) settle(null, answer);
          else settle(new NomadError(status, scrub(text.trim().slice(0, errorTextLength)) || `HTTP ${status}`));
        });
        // a connection lost mid-answer closes the answer without its end
        res.on('close', () => settle(unreachable('the connection closed before the answer ended')));
      });
      req.on('error', (e: Error & { code?: string }) => settle(unreachable(e.message || e.code || e.name)));
      req.end(body);
    });

  const json = <T>(answer: Answer): T => {
    try {
      return JSON.parse(answer.text) as T;
    } catch {
      throw new NomadError(answer.status, scrub(`Nomad answered with something that is not JSON: ${answer.text.trim().slice(0, errorTextLength)}`));
    }
  };
  const namespace = { namespace: settings.namespace };
  const jobPath = (jobId: string, rest = '') => `/v1/job/${encodeURIComponent(jobId)}${rest}`;

  const blocking = async <T>(path: string, query: Record<string, string>, options: BlockingOptions, jobCall: boolean): Promise<Indexed<ReadonlyArray<T>>> => {
    const { index, waitMs, signal } = options;
    const wait = waitMs ?? (index ? defaultWaitMs : 0);
    const answer = await call({
      method: 'GET',
      path,
      query: { ...query, index: index ? String(index) : undefined, wait: waitMs === undefined ? undefined : `${Math.ceil(waitMs)}ms` },
      signal,
      timeoutMs: wait + wait / 16 + requestTimeoutMs,
      notFoundIsAnswer: jobCall,
    });
    // Nomad lists nothing as null
    return { index: answer.index, value: answer.status === 404 ? [] : (json<T[] | null>(answer) ?? []) };
  };

  return {
    leader: async (signal) => json<string>(await call({ method: 'GET', path: '/v1/status/leader', signal, timeoutMs: requestTimeoutMs })),
    register: async (job: NomadJob, signal) => {
      const answer = await call({ method: 'PUT', path: '/v1/jobs', query: namespace, body: { Job: job }, signal, timeoutMs: requestTimeoutMs });
      return { evalId: json<{ EvalID: string }>(answer).EvalID };
    },
    stopAndPurge: async (jobId, signal) => {
      const query = { ...namespace, purge: 'true' };
      await call({ method: 'DELETE', path: jobPath(jobId), query, signal, timeoutMs: requestTimeoutMs, notFoundIsAnswer: true });
    },
    allocations: (jobId, options = {}) => blocking<NomadAllocation>(jobPath(jobId, '/allocations'), namespace, options, true),
    evaluations: (jobId, options = {}) => blocking<NomadEvaluation>(jobPath(jobId, '/evaluations'), namespace, options, true),
    nodes: (options = {}) => blocking<NomadNode>('/v1/nodes', { resources: 'true' }, options, false),
    close: () => agent.destroy(),
  };
};

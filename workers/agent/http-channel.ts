import { Readable } from 'node:stream';
import { z } from 'zod';
import {
  ArtifactsStored,
  Assignment,
  CacheFound,
  CacheSaved,
  HeartbeatAnswer,
  LayerStored,
  Registration,
  RemoteEngine,
  TestCounts,
  WorkspaceLayer,
  type AgentChannel,
  type StepRef,
} from '../../domain/agents/protocol.ts';
import { GyreError } from '../../domain/errors.ts';

/** Gyre answered with an error: its code (LEASE_LOST tells the agent to stop the task). */
export class ChannelError extends GyreError {}

/** The agent protocol over HTTP, as `gyre agent` speaks it to a Gyre on another machine. */
export const createHttpChannel = (host: string, token: string): AgentChannel => {
  const base = host.replace(/\/+$/, '');
  const failed = async (res: Response) => {
    const answer = (await res.json().catch(() => ({}))) as { message?: string; code?: string };
    return new ChannelError(answer.message ?? `Gyre answered ${res.status}`, answer.code ?? 'AGENT_PROTOCOL', res.status);
  };
  const post = async (path: string, body: unknown, timeoutMs = 30_000, signal?: AbortSignal): Promise<unknown> => {
    const res = await fetch(`${base}/api/agent/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
    });
    if (res.status === 204) return null;
    if (!res.ok) throw await failed(res);
    return res.json().catch(() => ({}));
  };
  /**
   * A report must arrive: one that finds Gyre unreachable or failing (a restart, a network blip) is
   * sent again, for up to two minutes; its answer is returned. Gyre takes a step's start and end, and a task's end, once
   * whatever the repeats; an answer Gyre gave (LEASE_LOST, bad input) is final.
   */
  const report = async (path: string, body: unknown): Promise<unknown> => {
    const until = Date.now() + 120_000;
    for (let backoff = 250; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        return await post(path, body);
      } catch (e) {
        const final = e instanceof ChannelError && e.status < 500;
        if (final || Date.now() + backoff > until) throw e;
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  };
  /** An archive is sent as it is read, and may take long; it cannot be sent again, so it is not. */
  const fileTimeoutMs = 60 * 60_000;
  const upload = async (path: string, query: Record<string, string | number>, type: string, body: Readable): Promise<unknown> => {
    const params = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    const init = {
      method: 'POST',
      headers: { 'content-type': type, authorization: `Bearer ${token}` },
      body: Readable.toWeb(body) as ReadableStream,
      duplex: 'half',
      signal: AbortSignal.timeout(fileTimeoutMs),
    } as RequestInit;
    const res = await fetch(`${base}/api/agent/${path}?${params}`, init);
    if (!res.ok) throw await failed(res);
    return res.json();
  };
  const download = async (path: string, body: unknown): Promise<Readable> => {
    const res = await fetch(`${base}/api/agent/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(fileTimeoutMs),
    });
    if (!res.ok || !res.body) throw await failed(res);
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  };
  const ref = (agentId: string, s: StepRef) => ({ agentId, jobId: s.jobId, taskIndex: s.taskIndex, stepIndex: s.stepIndex });
  return {
    register: async (info) => Registration.parse(await post('register', { info })),
    claim: async (agentId, waitMs, signal) => {
      const a = await post('claim', { agentId, waitMs }, waitMs + 30_000, signal);
      return a === null ? null : Assignment.parse(a);
    },
    heartbeat: async (agentId, running) => HeartbeatAnswer.parse(await post('heartbeat', { agentId, running })),
    startStep: async (agentId, step) => void (await report('steps/start', { agentId, ...step })),
    output: async (agentId, step, text) => void (await report('steps/output', { agentId, ...step, text })),
    finishStep: async (agentId, end) => void (await report('steps/finish', { agentId, ...end })),
    finishTask: async (agentId, end) => void (await report('tasks/finish', { agentId, ...end })),
    // asked again, Gyre answers with the same engine: a restart while it starts is waited out
    remoteDocker: async (agentId, step) => RemoteEngine.parse(await report('remote-docker', { agentId, ...step })),
    storeArtifacts: async (agentId, step, tar) => ArtifactsStored.parse(await upload('artifacts', ref(agentId, step), 'application/x-tar', tar)),
    storeTestResults: async (agentId, step, { reports, problems, tests }) => {
      const lines = async function* () {
        yield `${JSON.stringify({ reports, problems })}\n`;
        for await (const t of tests) yield `${JSON.stringify(t)}\n`;
      };
      return TestCounts.parse(await upload('test-results', ref(agentId, step), 'application/x-ndjson', Readable.from(lines())));
    },
    cacheExists: async (agentId, step, key) => z.object({ exists: z.boolean() }).parse(await post('caches/exists', { ...ref(agentId, step), key })).exists,
    saveCache: async (agentId, step, key, body) => CacheSaved.parse(await upload('caches/save', { ...ref(agentId, step), key }, 'application/gzip', body)),
    findCache: async (agentId, step, keys) =>
      z.object({ cache: CacheFound.nullable() }).parse(await post('caches/find', { ...ref(agentId, step), keys })).cache,
    readCache: (agentId, step, cacheId) => download('caches/read', { ...ref(agentId, step), cacheId }),
    persistWorkspace: async (agentId, step, tar) => LayerStored.parse(await upload('workspace/persist', ref(agentId, step), 'application/x-tar', tar)),
    workspaceLayers: async (agentId, step) => z.object({ layers: z.array(WorkspaceLayer) }).parse(await post('workspace/layers', ref(agentId, step))).layers,
    readWorkspaceLayer: (agentId, step, layerId) => download('workspace/read', { ...ref(agentId, step), layerId }),
  };
};

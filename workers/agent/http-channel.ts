import { Assignment, HeartbeatAnswer, Registration, type AgentChannel } from '../../domain/agents/protocol.ts';
import { GyreError } from '../../domain/errors.ts';

/** Gyre answered with an error: its code (LEASE_LOST tells the agent to stop the task). */
export class ChannelError extends GyreError {}

/** The agent protocol over HTTP, as `gyre agent` speaks it to a Gyre on another machine. */
export const createHttpChannel = (host: string, token: string): AgentChannel => {
  const base = host.replace(/\/+$/, '');
  const post = async (path: string, body: unknown, timeoutMs = 30_000, signal?: AbortSignal): Promise<unknown> => {
    const res = await fetch(`${base}/api/agent/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
    });
    if (res.status === 204) return null;
    const answer = (await res.json().catch(() => ({}))) as { message?: string; code?: string };
    if (!res.ok) throw new ChannelError(answer.message ?? `Gyre answered ${res.status}`, answer.code ?? 'AGENT_PROTOCOL', res.status);
    return answer;
  };
  return {
    register: async (info) => Registration.parse(await post('register', { info })),
    claim: async (agentId, waitMs, signal) => {
      const a = await post('claim', { agentId, waitMs }, waitMs + 30_000, signal);
      return a === null ? null : Assignment.parse(a);
    },
    heartbeat: async (agentId, running) => HeartbeatAnswer.parse(await post('heartbeat', { agentId, running })),
    startStep: async (agentId, step) => void (await post('steps/start', { agentId, ...step })),
    output: async (agentId, step, text) => void (await post('steps/output', { agentId, ...step, text })),
    finishStep: async (agentId, end) => void (await post('steps/finish', { agentId, ...end })),
    finishTask: async (agentId, end) => void (await post('tasks/finish', { agentId, ...end })),
  };
};

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
  /**
   * A report must arrive: one that finds Gyre unreachable or failing (a restart, a network blip) is
   * sent again, for up to two minutes. Gyre takes a step's start and end, and a task's end, once
   * whatever the repeats; an answer Gyre gave (LEASE_LOST, bad input) is final.
   */
  const report = async (path: string, body: unknown): Promise<void> => {
    const until = Date.now() + 120_000;
    for (let backoff = 250; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        await post(path, body);
        return;
      } catch (e) {
        const final = e instanceof ChannelError && e.status < 500;
        if (final || Date.now() + backoff > until) throw e;
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  };
  return {
    register: async (info) => Registration.parse(await post('register', { info })),
    claim: async (agentId, waitMs, signal) => {
      const a = await post('claim', { agentId, waitMs }, waitMs + 30_000, signal);
      return a === null ? null : Assignment.parse(a);
    },
    heartbeat: async (agentId, running) => HeartbeatAnswer.parse(await post('heartbeat', { agentId, running })),
    startStep: (agentId, step) => report('steps/start', { agentId, ...step }),
    output: (agentId, step, text) => report('steps/output', { agentId, ...step, text }),
    finishStep: (agentId, end) => report('steps/finish', { agentId, ...end }),
    finishTask: (agentId, end) => report('tasks/finish', { agentId, ...end }),
  };
};

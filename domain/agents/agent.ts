import { z } from 'zod';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';
import { AgentInfo } from './protocol.ts';

/** One stream per agent: each time it starts it registers what it offers. */
export const agentStream = (agentId: string) => `agent-${agentId}`;
export const agentTarget = (a: { agentId: string; name: string }) => ({ id: a.agentId, type: 'agent', name: a.name });

export const agentRegistered = defineEvent('agent.register', z.object({ agentId: z.string(), info: AgentInfo, resourceClasses: z.array(z.string()) }), {
  publicFields: ['agentId', 'info', 'resourceClasses'],
});
/** Never appended as a success: the actions refused agent requests are recorded under. */
export const agentHeartbeat = defineEvent('agent.heartbeat', z.object({ agentId: z.string() }), { publicFields: ['agentId'] });
export const stepOutput = defineEvent('job.step.output', z.object({ jobId: z.string() }), { publicFields: ['jobId'] });
export const agentEvents = [agentRegistered, agentHeartbeat, stepOutput];
export type AgentEvent = EventOf<typeof agentRegistered>;

export type AgentCommand = { type: 'register'; agentId: string; info: AgentInfo; resourceClasses: string[] };
export type AgentState = { registrations: number };

export const agentDecider: Decider<AgentState, AgentCommand, AgentEvent> = {
  initialState: () => ({ registrations: 0 }),
  evolve: (s) => ({ registrations: s.registrations + 1 }),
  decide: (c) => [{ type: 'agent.register', data: { agentId: c.agentId, info: c.info, resourceClasses: c.resourceClasses } }],
};

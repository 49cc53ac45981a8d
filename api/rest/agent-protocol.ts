import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgentInfo, Heartbeat, StepEnd, StepRef, TaskEnd } from '../../domain/agents/protocol.ts';
import { parseInput } from '../../domain/errors.ts';
import type { AgentIdentity, Dispatch } from '../../workers/dispatch.ts';

const AgentId = z.object({ agentId: z.string().uuid() });
const ClaimBody = AgentId.extend({ waitMs: z.number().int().min(0).max(30_000).default(20_000) });
const OutputBody = AgentId.merge(StepRef).extend({ text: z.string().max(1024 * 1024) });

/** The agent protocol over HTTP (`gyre agent`): runner tokens only, each confined to its own agents and tasks. */
export const registerAgentProtocol = (app: FastifyInstance, dispatch: Dispatch) => {
  const channelOf = (auth: { kind: string; tokenId?: string; resourceClass?: string }) => {
    const identity: AgentIdentity = { kind: 'token', tokenId: auth.tokenId!, resourceClass: auth.resourceClass! };
    return dispatch.channel(identity);
  };
  app.post('/api/agent/register', async (req) => channelOf(req.auth as never).register(parseInput(z.object({ info: AgentInfo }), req.body, 'registration').info));
  app.post('/api/agent/claim', async (req, reply) => {
    const b = parseInput(ClaimBody, req.body, 'claim');
    // an agent that hangs up (it is stopping) withdraws its claim: no task goes to a closed connection
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const task = await channelOf(req.auth as never).claim(b.agentId, b.waitMs, gone.signal);
    return task ?? reply.status(204).send();
  });
  app.post('/api/agent/heartbeat', async (req) => {
    const b = parseInput(AgentId.merge(Heartbeat), req.body, 'heartbeat');
    return channelOf(req.auth as never).heartbeat(b.agentId, b.running);
  });
  app.post('/api/agent/steps/start', async (req) => {
    const { agentId, ...step } = parseInput(AgentId.merge(StepRef), req.body, 'step start');
    await channelOf(req.auth as never).startStep(agentId, step);
    return { message: 'Accepted.' };
  });
  app.post('/api/agent/steps/output', { bodyLimit: 2 * 1024 * 1024 }, async (req) => {
    const { agentId, text, ...step } = parseInput(OutputBody, req.body, 'output');
    await channelOf(req.auth as never).output(agentId, step, text);
    return { message: 'Accepted.' };
  });
  app.post('/api/agent/steps/finish', async (req) => {
    const { agentId, ...end } = parseInput(AgentId.merge(StepEnd), req.body, 'step end');
    await channelOf(req.auth as never).finishStep(agentId, end);
    return { message: 'Accepted.' };
  });
  app.post('/api/agent/tasks/finish', async (req) => {
    const { agentId, ...end } = parseInput(AgentId.merge(TaskEnd), req.body, 'task end');
    await channelOf(req.auth as never).finishTask(agentId, end);
    return { message: 'Accepted.' };
  });
};

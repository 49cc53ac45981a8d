import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  AgentInfo,
  CacheKey,
  CacheKeys,
  Heartbeat,
  StepEnd,
  StepRef,
  TaskEnd,
  TaskRef,
  TestReportsSummary,
  UploadedTest,
} from '../../domain/agents/protocol.ts';
import { ndjsonLines } from './ndjson.ts';
import { parseInput, ValidationError } from '../../domain/errors.ts';
import type { AgentIdentity, Dispatch } from '../../workers/dispatch.ts';

const AgentId = z.object({ agentId: z.string().uuid() });
const ClaimBody = AgentId.extend({ waitMs: z.number().int().min(0).max(30_000).default(20_000) });
const OutputBody = AgentId.merge(StepRef).extend({ text: z.string().max(1024 * 1024) });
const StepBody = AgentId.merge(StepRef);
/** A body that streams (a tar, a gzipped tar) leaves the step to the query string. */
const StepQuery = AgentId.extend({
  jobId: TaskRef.shape.jobId,
  taskIndex: z.coerce.number().pipe(TaskRef.shape.taskIndex),
  stepIndex: z.coerce.number().pipe(StepRef.shape.stepIndex),
});
const streamed = { tar: 'application/x-tar', gzip: 'application/gzip', ndjson: 'application/x-ndjson' } as const;
/** A test's line: its texts are cut to their limits after parsing, so a line may be somewhat longer. */
const maxTestLineBytes = 1024 * 1024;

/** The request body as it arrives, never buffered: what the stream parsers below hand on. */
const bodyStream = (req: FastifyRequest, type: string): Readable => {
  if (req.body instanceof Readable) return req.body;
  throw new ValidationError(`send the body as a stream of Content-Type ${type}`);
};

/** The agent protocol over HTTP (`gyre agent`): runner tokens only, each confined to its own agents and tasks. */
export const registerAgentProtocol = (app: FastifyInstance, dispatch: Dispatch) => {
  const channelOf = (auth: {
    kind: string;
    tokenId?: string;
    resourceClass?: string;
    task?: { jobId: string; taskIndex: number };
    vm?: { instanceId: string };
  }) => {
    const identity: AgentIdentity = auth.task
      ? { kind: 'task', ...auth.task, resourceClass: auth.resourceClass! }
      : auth.vm
        ? { kind: 'vm', instanceId: auth.vm.instanceId }
        : { kind: 'token', tokenId: auth.tokenId!, resourceClass: auth.resourceClass! };
    return dispatch.channel(identity);
  };
  app.post('/api/agent/register', async (req) =>
    channelOf(req.auth as never).register(parseInput(z.object({ info: AgentInfo }), req.body, 'registration').info),
  );
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

  app.post('/api/agent/remote-docker', async (req) => {
    const { agentId, ...step } = parseInput(StepBody, req.body, 'remote Docker request');
    return channelOf(req.auth as never).remoteDocker(agentId, step);
  });

  // the file steps: JSON, except the bodies of archives, which stream both ways
  app.post('/api/agent/caches/exists', async (req) => {
    const { agentId, key, ...step } = parseInput(StepBody.extend({ key: CacheKey }), req.body, 'cache lookup');
    return { exists: await channelOf(req.auth as never).cacheExists(agentId, step, key) };
  });
  app.post('/api/agent/caches/find', async (req) => {
    const { agentId, keys, ...step } = parseInput(StepBody.extend({ keys: CacheKeys }), req.body, 'cache lookup');
    return { cache: await channelOf(req.auth as never).findCache(agentId, step, keys) };
  });
  app.post('/api/agent/caches/read', async (req, reply) => {
    const { agentId, cacheId, ...step } = parseInput(StepBody.extend({ cacheId: z.string().uuid() }), req.body, 'cache read');
    return reply.type(streamed.gzip).send(await channelOf(req.auth as never).readCache(agentId, step, cacheId));
  });
  app.post('/api/agent/workspace/layers', async (req) => {
    const { agentId, ...step } = parseInput(StepBody, req.body, 'workspace lookup');
    return { layers: await channelOf(req.auth as never).workspaceLayers(agentId, step) };
  });
  app.post('/api/agent/workspace/read', async (req, reply) => {
    const { agentId, layerId, ...step } = parseInput(StepBody.extend({ layerId: z.string().uuid() }), req.body, 'workspace layer read');
    return reply.type(streamed.tar).send(await channelOf(req.auth as never).readWorkspaceLayer(agentId, step, layerId));
  });
  // archives arrive as streams, for these routes only: the parser hands the request on unread, so no body limit applies
  void app.register(async (uploads) => {
    uploads.addContentTypeParser([streamed.tar, streamed.gzip, streamed.ndjson], (_req, payload, done) => done(null, payload));
    uploads.post('/api/agent/test-results', async (req) => {
      const { agentId, ...step } = parseInput(StepQuery, req.query, 'test results upload');
      const lines = ndjsonLines(bodyStream(req, streamed.ndjson), maxTestLineBytes);
      const first = await lines.next();
      const summary = parseInput(TestReportsSummary, first.done ? undefined : first.value, 'test results summary (the first line)');
      const tests = async function* () {
        for await (const line of lines) yield parseInput(UploadedTest, line, 'a test (a line after the first)');
      };
      return channelOf(req.auth as never).storeTestResults(agentId, step, { ...summary, tests: tests() });
    });
    uploads.post('/api/agent/artifacts', async (req) => {
      const { agentId, ...step } = parseInput(StepQuery, req.query, 'artifacts upload');
      return channelOf(req.auth as never).storeArtifacts(agentId, step, bodyStream(req, streamed.tar));
    });
    uploads.post('/api/agent/caches/save', async (req) => {
      const { agentId, key, ...step } = parseInput(StepQuery.extend({ key: CacheKey }), req.query, 'cache save');
      return channelOf(req.auth as never).saveCache(agentId, step, key, bodyStream(req, streamed.gzip));
    });
    uploads.post('/api/agent/workspace/persist', async (req) => {
      const { agentId, ...step } = parseInput(StepQuery, req.query, 'workspace upload');
      return channelOf(req.auth as never).persistWorkspace(agentId, step, bodyStream(req, streamed.tar));
    });
  });
};

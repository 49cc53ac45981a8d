import { contextOwner, projectOwner, userOwner, type Opener } from '../adapters/encryption/port.ts';
import { sessionStream, type SessionEvent } from '../domain/users/sessions.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CommandHandler } from '../application/commands.ts';
import type { EventStore } from '../adapters/eventstore/port.ts';
import { EngineTls } from '../adapters/vm/remote-engine.ts';
import { mayUseContext, type Member } from '../domain/contexts/access.ts';
import { contextDecider, contextSecretsAccessed, contextSecretsStream, contextStream, contextTarget, type ContextEvent } from '../domain/contexts/context.ts';
import { fold } from '../domain/decider.ts';
import { DomainError } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { pipelinesStream, type PipelineEvent } from '../domain/pipelines/pipeline.ts';
import { projectDecider, projectStream, type ProjectEvent } from '../domain/projects/project.ts';
import { continuationKeyLabel } from '../application/pipelines.ts';
import { type PlacementEvent, placementStream, placementTokenLabel, placementTokenOwner } from '../domain/nomad/placement.ts';
import { parseOrgSlug, parseProjectSlug } from '../domain/projects/slugs.ts';
import { type VmInstanceEvent, vmEngineTlsLabel, vmInstanceStream, vmTokenLabel, vmTokenOwner } from '../domain/vm/instance.ts';
import { vmCredentialsLabel, vmCredentialsOwner, type VmServiceEvent, vmServiceStream } from '../domain/vm/service.ts';

/** What a job asks for: its project, the contexts its workflow names, and who it runs for. */
export interface JobSecretsRequest {
  readonly projectSlug: string;
  readonly contexts: ReadonlyArray<string>;
  readonly member: Member;
  readonly jobId: string | null;
  readonly context: CommandContext;
  /** A build of a pull request from a fork: no secrets unless the project passes them to forks. */
  readonly fromFork?: boolean;
}

export interface JobSecrets {
  /** Whether `signature` (`sha256=<hex>`) is the HMAC of `body` under the project's webhook secret. */
  webhookSignatureValid(projectSlug: string, body: Buffer, signature: string | undefined): Promise<boolean>;
  /**
   * The environment a job runs with: the project's variables, overridden by each context's in the
   * order named. A restricted context the member may not use stops it with CONTEXT_RESTRICTED.
   */
  environmentFor(request: JobSecretsRequest): Promise<Record<string, string>>;
  /** A setup pipeline's continuation key, opened from its `pipeline.create` (at `setupRevision` of the project's pipelines stream). */
  continuationKey(pipeline: { projectId: string; pipelineId: string; setupRevision: number }): Promise<string>;
  /** The GitHub OAuth token of the person's latest GitHub sign-in, or null when that sign-in kept none (or they never signed in with GitHub). */
  githubToken(userId: string): Promise<string | null>;
  /** The single-use token of a task Nomad places, opened from its `nomad.job.submit`. */
  nomadTaskToken(jobId: string, taskIndex: number): Promise<string>;
  /** The single-use token of a VM the VM service starts, opened from its `vm.instance.request`. */
  vmInstanceToken(instanceId: string): Promise<string>;
  /** A REMOTE_DOCKER instance's engine TLS: its CA, the CA's key (for its start-up script), the client's certificate and key. */
  vmEngineTls(instanceId: string): Promise<EngineTls>;
  /** The VM service's cloud credentials as last configured (a key pair's JSON, or a service account key file), or null for the default credentials. */
  vmCredentials(): Promise<string | null>;
}

/**
 * The one module that decrypts secrets: values for job dispatch, the webhook secret to check a
 * delivery's signature, people's GitHub tokens for following repositories and commit statuses, the tokens Nomad's and the VMs' one-shot agents claim their tasks with, and the VM service's cloud credentials. Sealed values come from the event streams themselves (no read model holds
 * them); every context used is recorded as `context.secrets.accessed`.
 */
export const createJobSecrets = (deps: { store: EventStore; opener: Opener; commands: CommandHandler }): JobSecrets => ({
  async webhookSignatureValid(projectSlug, body, signature) {
    const project = fold(projectDecider, (await deps.store.readStream(projectStream(parseProjectSlug(projectSlug)))) as unknown as ProjectEvent[]);
    if (!project?.webhookSecret || !signature?.startsWith('sha256=')) return false;
    const secret = await deps.opener.open(projectOwner(project.projectId), 'webhook secret', project.webhookSecret.sealed);
    const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'));
    const given = Buffer.from(signature.slice('sha256='.length));
    return given.length === expected.length && timingSafeEqual(given, expected);
  },
  async environmentFor(request) {
    const slug = parseProjectSlug(request.projectSlug);
    const project = fold(projectDecider, (await deps.store.readStream(projectStream(slug))) as unknown as ProjectEvent[]);
    if (!project) throw new DomainError('PROJECT_NOT_FOUND', `no project ${slug.slug}`);
    if (request.fromFork && !project.settings.passSecretsToForkPullRequests) return {};
    const owner = parseOrgSlug(slug.orgSlug);
    const contexts = [];
    for (const name of request.contexts) {
      const c = fold(contextDecider, (await deps.store.readStream(contextStream(owner, name))) as unknown as ContextEvent[]);
      if (!c) throw new DomainError('CONTEXT_NOT_FOUND', `${owner.slug} has no context named ${name}`);
      const access = mayUseContext(c.restrictions, c.owner.slug, request.member);
      if (!access.allowed) throw new DomainError('CONTEXT_RESTRICTED', `context ${c.name}: ${access.reason}`);
      contexts.push(c);
    }
    const env: Record<string, string> = {};
    for (const [name, secret] of project.envVars) env[name] = await deps.opener.open(projectOwner(project.projectId), `env ${name}`, secret.sealed);
    for (const c of contexts) {
      for (const [name, secret] of c.envVars) env[name] = await deps.opener.open(contextOwner(c.contextId), `env ${name}`, secret.sealed);
      await deps.commands.record(
        contextSecretsStream(c.contextId),
        {
          type: contextSecretsAccessed.type,
          data: {
            contextId: c.contextId,
            context: c.name,
            variables: [...c.envVars.keys()].sort(),
            purpose: 'job',
            projectSlug: project.slug,
            jobId: request.jobId,
          },
        },
        {
          context: request.context,
          target: contextTarget({ contextId: c.contextId, context: c.name }),
          scope: { id: project.projectId, type: 'project', name: project.slug },
        },
      );
    }
    return env;
  },
  async continuationKey({ projectId, pipelineId, setupRevision }) {
    const [created] = (await deps.store.readStream(pipelinesStream(projectId), setupRevision)) as unknown as PipelineEvent[];
    if (created?.type !== 'pipeline.create' || created.data.pipelineId !== pipelineId || !created.data.continuation)
      throw new Error(`pipeline ${pipelineId} has no continuation key at revision ${setupRevision}`);
    return deps.opener.open(projectOwner(projectId), continuationKeyLabel(pipelineId), created.data.continuation.sealedKey);
  },
  async githubToken(userId) {
    const events = (await deps.store.readStream(sessionStream(userId))) as unknown as SessionEvent[];
    const latest = [...events].reverse().find((e) => e.type === 'user.logged_in' && e.data.method === 'github');
    if (latest?.type !== 'user.logged_in' || !latest.data.githubToken) return null;
    return deps.opener.open(userOwner(userId), 'github token', latest.data.githubToken.sealed);
  },
  async nomadTaskToken(jobId, taskIndex) {
    const [submitted] = (await deps.store.readStream(placementStream(jobId, taskIndex))) as unknown as PlacementEvent[];
    if (submitted?.type !== 'nomad.job.submit') throw new Error(`task ${taskIndex} of job ${jobId} has no Nomad placement`);
    return deps.opener.open(placementTokenOwner, placementTokenLabel(jobId, taskIndex), submitted.data.sealedToken);
  },
  async vmInstanceToken(instanceId) {
    const [requested] = (await deps.store.readStream(vmInstanceStream(instanceId))) as unknown as VmInstanceEvent[];
    if (requested?.type !== 'vm.instance.request') throw new Error(`VM instance ${instanceId} was never requested`);
    return deps.opener.open(vmTokenOwner, vmTokenLabel(instanceId), requested.data.sealedToken);
  },
  async vmEngineTls(instanceId) {
    const [requested] = (await deps.store.readStream(vmInstanceStream(instanceId))) as unknown as VmInstanceEvent[];
    const sealed = requested?.type === 'vm.instance.request' ? requested.data.sealedEngineTls : null;
    if (!sealed) throw new Error(`VM instance ${instanceId} runs no remote Docker engine`);
    return EngineTls.parse(JSON.parse(await deps.opener.open(vmTokenOwner, vmEngineTlsLabel(instanceId), sealed)));
  },
  async vmCredentials() {
    const last = (await deps.store.readLast(vmServiceStream)) as unknown as VmServiceEvent | null;
    const sealed = last?.data.sealedCredentials;
    return sealed ? deps.opener.open(vmCredentialsOwner, vmCredentialsLabel, sealed) : null;
  },
});

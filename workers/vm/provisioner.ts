import { randomUUID } from 'node:crypto';
import type { Vault } from '../../adapters/encryption/port.ts';
import { type VmCloud, VmCloudError } from '../../adapters/vm/port.ts';
import { engineAnswers, makeEngineTls } from '../../adapters/vm/remote-engine.ts';
import type { UseCases, WithStore } from '../../application/dependencies.ts';
import { generateToken, hashToken } from '../../application/tokens.ts';
import type { RemoteEngine, TaskRef } from '../../domain/agents/protocol.ts';
import { fold } from '../../domain/decider.ts';
import { DomainError } from '../../domain/errors.ts';
import { uuidFrom } from '../../domain/ids.ts';
import type { CommandContext, Position, RecordedEvent } from '../../domain/events/envelope.ts';
import type { EventOf } from '../../domain/events/registry.ts';
import { type Job, jobDecider, type JobEvent, type jobQueued, jobStream } from '../../domain/jobs/job.ts';
import { resourceClassKey } from '../../domain/jobs/job-spec.ts';
import {
  type VmInstanceCommand,
  type VmInstanceEvent,
  type VmInstanceRecord,
  type VmTask,
  vmAgentName,
  vmCloudName,
  vmEngineTlsLabel,
  vmInstanceDecider,
  vmInstanceStream,
  vmInstanceTarget,
  vmTokenLabel,
  vmTokenOwner,
} from '../../domain/vm/instance.ts';
import {
  poolClass,
  type VmService,
  type VmType,
  vmServiceDecider,
  type VmServiceEvent,
  vmServiceStream,
  vmSpecOf,
  vmTypeOfImage,
  vmTypes,
} from '../../domain/vm/service.ts';
import { agentStartupScript, remoteDockerPort, remoteDockerStartupScript } from '../../domain/vm/startup-script.ts';
import { queuedClasses } from '../../projections/jobs.ts';
import { idleVmInstances, liveVmInstances, tasksWithoutVm, type VmInstanceRow, vmInstanceOfTask } from '../../projections/vm.ts';
import { agentStream } from '../../domain/agents/agent.ts';
import { agentIdOf } from '../dispatch.ts';
import type { JobSecrets } from '../job-secrets.ts';
import type { Reactor } from '../reactor.ts';
import { wakeable } from '../wakeable.ts';

export interface VmProvisionerDeps extends UseCases, WithStore {
  readonly vault: Vault;
  readonly projections: { waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean> };
  readonly jobSecrets: Pick<JobSecrets, 'vmInstanceToken' | 'vmEngineTls' | 'vmCredentials'>;
  /** The cloud client for a configuration and its opened credentials (null: the default credentials). */
  readonly cloudFor: (service: VmService, credentials: string | null) => VmCloud;
  /** Whether another service (Nomad) places this class: the VM service leaves it alone. */
  readonly placedElsewhere: (resourceClass: string) => boolean;
  /** Ends a task Gyre gives up on (its VM could not be started, or never became ready). */
  readonly endTask: (t: TaskRef, status: 'infrastructure_fail', reason: string) => Promise<void>;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  /** The one-shot agent's command and leading arguments on the VM image (`gyre`). */
  readonly agentCommand: ReadonlyArray<string>;
  /** The Docker engine's command and leading arguments on a REMOTE_DOCKER VM's image (`dockerd`). */
  readonly dockerdCommand: ReadonlyArray<string>;
  /** Where the agents on the VMs reach Gyre (GYRE_PUBLIC_URL). */
  readonly gyreUrl: string;
  /** How long an instance may take from its request to its agent's registration (ms), cloud retries included. */
  readonly readyTimeoutMs: number;
  /** How often a starting instance is looked at (ms). */
  readonly pollMs?: number;
  /** The first pause after a cloud error worth retrying (ms); each next one doubles, up to a minute. */
  readonly retryMs?: number;
  /** How often the instances and queued tasks not yet followed are looked for (ms). */
  readonly rescanMs?: number;
}

const system = (correlationId?: string, causationId?: string): CommandContext => ({
  actor: { id: 'gyre', type: 'system', name: 'vm-service' },
  request: null,
  ...(correlationId ? { correlationId } : {}),
  ...(causationId ? { causationId } : {}),
});

/** What a task asks the VM service for: the VM it runs on (a `machine` job), or a Docker engine (`setup_remote_docker`). */
type Want = 'machine' | 'remote docker';
/** The class a `machine` job's task asks for, when it is one: the VM service starts `machine` VMs. */
const machineClassOf = (resourceClass: string) => (resourceClass.startsWith('machine:') ? resourceClass.slice('machine:'.length) : null);
const taskEnded = (job: Job | null, taskIndex: number) => {
  const status = job?.tasks[taskIndex]?.status;
  return status !== 'queued' && status !== 'running';
};
/** The agent an instance's start-up script runs registers under this id: its registration is the instance being ready. */
export const vmAgentId = (instanceId: string) => agentIdOf({ kind: 'vm', instanceId }, vmAgentName(instanceId));

/**
 * The VM service: starts a VM on the configured cloud for each task of a `machine` job, or gives it a
 * prescaled one, keeps the prescaled pools at their size, and follows each instance until it ends.
 * A follower per instance launches it (the launch is idempotent by the instance's id, so a restart
 * mid-launch starts no second VM), retries the cloud's errors that retrying helps with backoff until
 * the instance's deadline, ends its task `infrastructure_fail` once with the cloud's words when it
 * cannot be started or its agent never registers, and terminates it when its task ends. What it does
 * is decided from the instance's and the job's streams, so a restart, or a second server following the
 * same instance, does nothing twice; the pools are kept from each server's view of them.
 */
export const createVmProvisioner = (deps: VmProvisionerDeps) => {
  const pollMs = deps.pollMs ?? 2000;
  const retryMs = deps.retryMs ?? 1000;
  const following = new Map<string, { wake(): void }>();
  const running = new Set<Promise<void>>();
  /** Pool instances requested here that the read model may not show yet, and idle ones being drained: neither is taken nor counted twice. */
  const requested = new Map<string, VmType>();
  const draining = new Map<string, string>();
  /** Tasks given an instance here: the reactor and the rescan never both give one a VM. */
  const providing = new Set<string>();
  let closed = false;
  let rescan: NodeJS.Timeout | null = null;
  let adopting: Promise<void> = Promise.resolve();
  let cloud: { of: string; cloud: VmCloud } | null = null;

  const serviceOf = async () => fold(vmServiceDecider, (await deps.store.readStream(vmServiceStream)) as unknown as VmServiceEvent[]);
  const instanceOf = async (instanceId: string) => {
    const events = await deps.store.readStream(vmInstanceStream(instanceId));
    const state = fold(vmInstanceDecider, events as unknown as VmInstanceEvent[]);
    return state && { ...state, requestedAt: Date.parse(events[0]!.occurredAt) };
  };
  const jobOf = async (jobId: string) => fold(jobDecider, (await deps.store.readStream(jobStream(jobId))) as unknown as JobEvent[]);
  const decide = (instanceId: string, command: VmInstanceCommand, context: CommandContext) =>
    deps.commands.execute({
      stream: vmInstanceStream(instanceId),
      decider: vmInstanceDecider,
      command,
      context,
      target: vmInstanceTarget(instanceId),
      maxAttempts: 20,
    });
  /** The cloud of the configuration as it stands, opened once per configuration. */
  const cloudOf = async (service: VmService): Promise<VmCloud> => {
    const of = `${JSON.stringify(service.settings)}\n${service.sealedCredentials ?? ''}`;
    if (cloud?.of !== of) {
      void cloud?.cloud.close?.();
      cloud = { of, cloud: deps.cloudFor(service, await deps.jobSecrets.vmCredentials()) };
    }
    return cloud.cloud;
  };

  /** Whether the VM service starts this class's VMs: a `machine` class, once it is configured. */
  let configured: VmService | null = null;
  const serves = (resourceClass: string) => configured !== null && machineClassOf(resourceClass) !== null && !deps.placedElsewhere(resourceClass);

  const request = async (service: VmService, vmType: VmType, machineClass: string, task: VmTask | null, context: CommandContext) => {
    const spec = vmSpecOf(service.settings, vmType, machineClass);
    if (!spec) return null;
    // a task's own VM is named after the task: two servers giving it one request the same instance
    const instanceId = task
      ? uuidFrom(`gyre vm instance\n${task.jobId}/${task.taskIndex}${vmType === 'REMOTE_DOCKER' ? '\nremote docker' : ''}`)
      : randomUUID();
    const token = generateToken();
    const sealedToken = await deps.vault.seal(vmTokenOwner, vmTokenLabel(instanceId), token);
    const sealedEngineTls =
      vmType === 'REMOTE_DOCKER'
        ? await deps.vault.seal(vmTokenOwner, vmEngineTlsLabel(instanceId), JSON.stringify(makeEngineTls(vmCloudName(instanceId))))
        : null;
    const command = {
      type: 'request',
      instanceId,
      provider: service.settings.provider,
      vmType,
      ...spec,
      task,
      tokenHash: hashToken(token),
      sealedToken,
      sealedEngineTls,
    } as const;
    await decide(instanceId, command, context);
    return instanceId;
  };

  /** Gives the task an idle prescaled instance of its type, or asks for one. */
  const provide = async (job: Job, taskIndex: number, want: Want, causationId?: string) => {
    const key = providingKey(job.spec.jobId, taskIndex, want);
    if (providing.has(key)) return;
    providing.add(key);
    try {
      // a job.queue delivered again after a restart: its task has its VM already
      if (!(await vmInstanceOfTask(deps.db, job.spec.jobId, taskIndex, want))) await give(job, taskIndex, want, causationId);
    } catch (e) {
      providing.delete(key);
      throw e;
    }
  };
  const providingKey = (jobId: string, taskIndex: number, want: Want) => `${jobId}/${taskIndex}/${want}`;
  const give = async (job: Job, taskIndex: number, want: Want, causationId?: string) => {
    const service = configured;
    if (!service) return;
    const { spec } = job;
    const task: VmTask = { jobId: spec.jobId, taskIndex, jobName: spec.name };
    const vmType = want === 'remote docker' ? 'REMOTE_DOCKER' : vmTypeOfImage(spec.executor.type === 'machine' ? spec.executor.image : null);
    const context = system(spec.pipelineId, causationId);
    // a remote Docker engine runs at the pools' size, whatever the job's own class
    const machineClass = (want === 'machine' && machineClassOf(resourceClassKey(spec.resourceClass))) || poolClass;
    const wanted = vmSpecOf(service.settings, vmType, machineClass);
    // an idle VM of the task's image and size: a prescaled medium VM does not run a large job
    for (const idle of await idleVmInstances(deps.db, vmType)) {
      const fits = wanted && idle.provider === service.settings.provider && idle.image === wanted.image && idle.machineType === wanted.machineType;
      if (draining.has(idle.instanceId) || !fits) continue;
      try {
        await decide(idle.instanceId, { type: 'assign', task }, context);
        requested.delete(idle.instanceId);
        following.get(idle.instanceId)?.wake();
        void balance();
        return;
      } catch (e) {
        if (!(e instanceof DomainError && e.code === 'VM_TAKEN')) throw e;
      }
    }
    const instanceId = await request(service, vmType, machineClass, task, context);
    if (instanceId) follow(instanceId);
    else
      await deps.endTask(
        { jobId: spec.jobId, taskIndex },
        'infrastructure_fail',
        `the VM service has no ${vmType === 'WINDOWS' ? 'Windows' : 'Linux'} image configured`,
      );
  };

  /**
   * Keeps each pool at its size: asks for the idle instances missing, drains the ones past it (the
   * newest first) and those started from an image or at a size no longer configured.
   */
  let balancing: Promise<void> = Promise.resolve();
  const balance = () => {
    balancing = balancing
      .then(async () => {
        const service = configured;
        for (const vmType of vmTypes) {
          const want = service?.settings.pools.find((p) => p.vmType === vmType)?.prescaled ?? 0;
          const spec = service && vmSpecOf(service.settings, vmType, poolClass);
          const shown = (await idleVmInstances(deps.db, vmType)).filter((i) => !draining.has(i.instanceId));
          for (const i of shown) requested.delete(i.instanceId);
          const current = (i: VmInstanceRow) =>
            spec && i.provider === service.settings.provider && i.image === spec.image && i.machineType === spec.machineType;
          for (const i of shown.filter((x) => !current(x))) drain(i.instanceId, `its image or size is no longer the ${vmType} pool's`);
          const idle = [...shown.filter(current).map((i) => i.instanceId), ...[...requested].filter(([, type]) => type === vmType).map(([id]) => id)];
          for (let n = idle.length; n < want && service; n++) {
            const instanceId = await request(service, vmType, poolClass, null, system());
            if (!instanceId) break;
            requested.set(instanceId, vmType);
            follow(instanceId);
          }
          for (const instanceId of idle.slice(want).reverse()) drain(instanceId, `the ${vmType} pool was lowered to ${want}`);
        }
      })
      .catch((e) => deps.log.error({ err: e }, 'vm: cannot keep the prescaled pools at their size; trying again'));
    return balancing;
  };
  const drain = (instanceId: string, reason: string) => {
    draining.set(instanceId, reason);
    follow(instanceId);
    following.get(instanceId)?.wake();
  };

  /** Terminates the instance in the cloud (when it was started there), then records it. */
  const terminate = async (s: VmInstanceRecord, reason: string, context: CommandContext, signal: AbortSignal) => {
    if (s.cloudId) {
      const service = configured;
      if (service && service.settings.provider === s.provider) await (await cloudOf(service)).terminate(s.cloudId, signal);
      else
        deps.log.warn(
          { instance: s.instanceId, cloudId: s.cloudId },
          `vm: the VM service no longer runs on ${s.provider}; terminate ${s.cloudId} there by hand`,
        );
    }
    await decide(s.instanceId, { type: 'terminate', reason }, context);
    draining.delete(s.instanceId);
    requested.delete(s.instanceId);
    if (s.task) providing.delete(providingKey(s.task.jobId, s.task.taskIndex, s.vmType === 'REMOTE_DOCKER' ? 'remote docker' : 'machine'));
    deps.log.info({ instance: s.instanceId, cloudId: s.cloudId, reason }, 'vm: instance terminated');
    if (!s.forTask) void balance();
  };

  /** The instance could not be given to its task: recorded once, and its task (if it has one) ends infrastructure_fail with the words. */
  const fail = async (s: VmInstanceRecord, code: string, reason: string, context: CommandContext) => {
    const r = await decide(s.instanceId, { type: 'fail', code, reason }, context);
    if (r.events.length) deps.log.warn({ instance: s.instanceId, cloudId: s.cloudId, code }, `vm: ${reason}`);
    if (s.task && !taskEnded(await jobOf(s.task.jobId), s.task.taskIndex)) await deps.endTask(s.task, 'infrastructure_fail', reason);
  };

  const startupScript = async (s: VmInstanceRecord) => {
    if (s.vmType === 'REMOTE_DOCKER') {
      const tls = await deps.jobSecrets.vmEngineTls(s.instanceId);
      return remoteDockerStartupScript({ dockerdCommand: deps.dockerdCommand, name: vmCloudName(s.instanceId), caCert: tls.caCert, caKey: tls.caKey });
    }
    const token = await deps.jobSecrets.vmInstanceToken(s.instanceId);
    return agentStartupScript({ agentCommand: deps.agentCommand, gyreUrl: deps.gyreUrl, token, agentName: vmAgentName(s.instanceId) });
  };
  const launch = async (s: VmInstanceRecord, service: VmService, context: CommandContext, signal: AbortSignal) => {
    const script = await startupScript(s);
    const started = await (await cloudOf(service)).launch(
      { name: vmCloudName(s.instanceId), vmType: s.vmType, image: s.image, machineType: s.machineType, startupScript: script },
      signal,
    );
    await decide(s.instanceId, { type: 'start', cloudId: started.cloudId, address: started.address }, context);
    deps.log.info({ instance: s.instanceId, cloudId: started.cloudId }, 'vm: instance started');
  };

  /** Whether it is ready: its agent registered, or its Docker engine answers over TLS at its address (asked of the cloud when launching did not say). */
  const ready = async (s: VmInstanceRecord & { cloudId: string }, service: VmService, signal: AbortSignal): Promise<{ address: string | null } | null> => {
    if (s.vmType !== 'REMOTE_DOCKER') return (await deps.store.readLast(agentStream(vmAgentId(s.instanceId)))) !== undefined ? { address: null } : null;
    const address = s.address ?? (await (await cloudOf(service)).describe(s.cloudId, signal))?.address ?? null;
    if (!address) return null;
    return (await engineAnswers(address, remoteDockerPort, await deps.jobSecrets.vmEngineTls(s.instanceId))) ? { address } : null;
  };

  const follow = (instanceId: string) => {
    if (following.has(instanceId) || closed) return;
    const w = wakeable();
    following.set(instanceId, w);
    const loop = async () => {
      let backoff = retryMs;
      let lastLook = 0;
      while (!closed) {
        const signal = w.round();
        try {
          const s = await instanceOf(instanceId);
          if (!s || s.terminated) return;
          const job = s.task && (await jobOf(s.task.jobId));
          const context = system(job?.spec.pipelineId);
          const service = configured;
          if (s.failed || (s.task && taskEnded(job, s.task.taskIndex)) || draining.has(instanceId) || !service || service.settings.provider !== s.provider) {
            const reason = s.failed
              ? 'it failed'
              : s.task && taskEnded(job, s.task.taskIndex)
                ? `job ${s.task.jobName} task ${s.task.taskIndex} ended`
                : draining.has(instanceId)
                  ? draining.get(instanceId)!
                  : 'the VM service moved to another cloud';
            await terminate(s, reason, context, signal);
            return;
          }
          const deadline = s.requestedAt + deps.readyTimeoutMs;
          if (s.cloudId === null) {
            try {
              await launch(s, service, context, signal);
              backoff = retryMs;
            } catch (e) {
              if (!(e instanceof VmCloudError)) throw e;
              if (!e.retryable || Date.now() + backoff > deadline) {
                await fail(s, e.code, `the VM service could not start a ${s.vmType} VM on ${s.provider}: ${e.code}: ${e.message}`, context);
                continue;
              }
              deps.log.warn({ instance: instanceId, code: e.code, retryInMs: backoff }, `vm: the cloud refused for now; trying again: ${e.message}`);
              await w.sleep(backoff);
              backoff = Math.min(backoff * 2, 60_000);
            }
            continue;
          }
          const seenReady = s.ready ? null : await ready({ ...s, cloudId: s.cloudId }, service, signal);
          // a machine VM's readiness is its agent's registration, in the log already; an engine's is recorded, for its task to read
          if (seenReady && s.vmType === 'REMOTE_DOCKER') {
            await decide(instanceId, { type: 'ready', address: seenReady.address }, context);
            deps.log.info({ instance: instanceId, cloudId: s.cloudId }, 'vm: instance ready');
            continue;
          }
          if (!s.ready && !seenReady) {
            if (Date.now() > deadline) {
              await fail(
                s,
                'VM_NOT_READY',
                `the ${s.vmType} VM ${s.cloudId} on ${s.provider} did not become ready within ${Math.round(deps.readyTimeoutMs / 1000)} s`,
                context,
              );
              continue;
            }
            if (Date.now() - lastLook >= 10 * pollMs) {
              lastLook = Date.now();
              const seen = await (await cloudOf(service)).describe(s.cloudId, signal);
              if (!seen || seen.state === 'terminated' || seen.state === 'stopping') {
                await fail(
                  s,
                  'VM_LOST',
                  `the ${s.vmType} VM ${s.cloudId} on ${s.provider} ${seen ? `is ${seen.state}` : 'is gone'} before it became ready`,
                  context,
                );
                continue;
              }
            }
          }
          await w.sleep(pollMs);
        } catch (e) {
          if (closed) return;
          if (signal.aborted) continue;
          deps.log.error({ err: e, instance: instanceId }, 'vm: following an instance failed; trying again');
          await w.sleep(backoff);
          backoff = Math.min(backoff * 2, 60_000);
        }
      }
    };
    const done = loop().finally(() => {
      following.delete(instanceId);
      running.delete(done);
    });
    running.add(done);
  };

  const queued = async (e: RecordedEvent) => {
    const { spec } = (e as unknown as EventOf<typeof jobQueued>).data;
    if (!serves(resourceClassKey(spec.resourceClass))) return;
    const job = await jobOf(spec.jobId);
    for (let taskIndex = 0; taskIndex < spec.parallelism; taskIndex++)
      if (job && job.tasks[taskIndex]?.status === 'queued') await provide(job, taskIndex, 'machine', e.id);
  };

  /** Follows the live instances, starts VMs for queued tasks that have none (the VM service was just configured, or a request was lost), and refills the pools. */
  const adopt = async () => {
    configured = await serviceOf();
    // never configured: there is no instance and nothing to start (a configuration is never taken back)
    if (!configured) return;
    // the read models as far as the log is now: a task given a VM a moment ago shows it
    await deps.projections.waitFor(await deps.store.head(), 10_000, ['vm', 'jobs']);
    for (const i of await liveVmInstances(deps.db)) follow(i.instanceId);
    const served = (await queuedClasses(deps.db)).filter(serves);
    for (const t of await tasksWithoutVm(deps.db, served, 100)) {
      const job = await jobOf(t.jobId);
      if (job?.tasks[t.taskIndex]?.status === 'queued') await provide(job, t.taskIndex, 'machine');
    }
    await balance();
  };

  /**
   * `setup_remote_docker` for a running task: gives it an idle REMOTE_DOCKER instance or starts one
   * (once: asked again, the task's own), and says how far it is; once its engine answers, where it is
   * and the TLS files a client needs. An engine that cannot start ends its task infrastructure_fail, as
   * a machine job's VM does.
   */
  const remoteEngine = async (t: TaskRef): Promise<RemoteEngine> => {
    const service = await serviceOf();
    if (!service)
      return {
        state: 'failed',
        message: 'setup_remote_docker needs the VM service, which is not configured: an admin configures it (GraphQL configureVmService)',
      };
    configured = service;
    const find = async () => {
      // the read model as far as the log is now: an engine given on another server, or a moment ago, shows
      await deps.projections.waitFor(await deps.store.head(), 10_000, ['vm']);
      return vmInstanceOfTask(deps.db, t.jobId, t.taskIndex, 'remote docker');
    };
    let row = await find();
    if (!row) {
      const job = await jobOf(t.jobId);
      if (job?.tasks[t.taskIndex]?.status !== 'running') return { state: 'failed', message: 'the task is not running' };
      await provide(job, t.taskIndex, 'remote docker');
      row = await find();
      if (!row) return { state: 'starting', message: 'asking the VM service for a remote Docker engine' };
    }
    const s = await instanceOf(row.instanceId);
    const where = `${s?.provider === 'GCP' ? 'Compute Engine' : 'EC2'} VM${s?.cloudId ? ` ${s.cloudId}` : ''}`;
    if (!s || s.failed || s.terminated)
      return { state: 'failed', message: `the remote Docker engine's ${where} ${s?.failed ? 'failed' : 'ended'}${row.reason ? `: ${row.reason}` : ''}` };
    if (s.ready && s.address) {
      const tls = await deps.jobSecrets.vmEngineTls(s.instanceId);
      const host = s.address.includes(':') ? `[${s.address}]` : s.address;
      return { state: 'ready', host: `tcp://${host}:${remoteDockerPort}`, ca: tls.caCert, cert: tls.clientCert, key: tls.clientKey };
    }
    return {
      state: 'starting',
      message: s.cloudId
        ? `the ${where} is starting: waiting for its Docker engine to answer on port ${remoteDockerPort}`
        : `the VM service is starting a remote Docker engine on ${where} (${s.machineType})`,
    };
  };

  const reactor: Reactor = {
    name: 'vm-provisioner',
    handles: [{ exact: 'job.queue' }, { exact: 'job.task.finish' }, { exact: 'vm_service.configure' }],
    reads: ['vm', 'jobs'],
    react: async (e) => {
      if (e.type === 'job.queue') return queued(e);
      if (e.type === 'vm_service.configure') {
        configured = await serviceOf();
        return adopt();
      }
      for (const f of following.values()) f.wake();
    },
  };

  return {
    reactor,
    serves,
    remoteEngine,
    /** Follows every live instance, and looks for new work every `rescanMs`; start-up does not wait for the first look (its read models may be catching up). */
    async start() {
      // which classes it serves is known before the server takes its first claim
      configured = await serviceOf();
      const every = deps.rescanMs ?? 5000;
      const look = () => {
        adopting = adopt()
          .catch((e) => deps.log.error({ err: e }, 'vm: cannot follow the instances or start the waiting tasks; trying again'))
          .finally(() => {
            if (closed) return;
            rescan = setTimeout(look, every);
            rescan.unref();
          });
      };
      look();
    },
    async stop() {
      closed = true;
      if (rescan) clearTimeout(rescan);
      await adopting;
      for (const f of following.values()) f.wake();
      await Promise.allSettled([...running, balancing]);
      await cloud?.cloud.close?.();
    },
  };
};
export type VmProvisioner = ReturnType<typeof createVmProvisioner>;

import { z } from 'zod';
import type { Decider } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { vmTypes } from './service.ts';

/**
 * One stream per VM the VM service starts: asked for (for a task, or for a prescaled pool), started
 * by the cloud (its instance id), given to a task, and ended (terminated, or failed first). Its
 * one-shot agent claims its task with the instance's single-use token (sealed here; only its hash is
 * compared). The job's stream stays the task's truth; this one says which machine ran it.
 */
export const vmInstanceStream = (instanceId: string) => `vm-instance-${instanceId}`;
/** The data key an instance's token is sealed under, and its label. */
export const vmTokenOwner = 'gyre:vm-service';
export const vmTokenLabel = (instanceId: string) => `vm instance token ${instanceId}`;
/** The data key's label a REMOTE_DOCKER instance's engine TLS is sealed under (the owner is the token's). */
export const vmEngineTlsLabel = (instanceId: string) => `vm instance engine tls ${instanceId}`;
/** The instance's name in the cloud (GCE names start with a letter), and its EC2 ClientToken. */
export const vmCloudName = (instanceId: string) => `gyre-${instanceId}`;
/** The one-shot agent on an instance names itself after it. */
export const vmAgentName = (instanceId: string) => `vm-${instanceId}`;
export const vmInstanceTarget = (instanceId: string) => ({ id: instanceId, type: 'vm_instance', name: vmAgentName(instanceId) });

const Task = z.object({ jobId: z.string(), taskIndex: z.number().int().min(0), jobName: z.string() });
const ids = { instanceId: z.string(), provider: z.enum(['AWS', 'GCP']), vmType: z.enum(vmTypes) };
const idFields = ['instanceId', 'provider', 'vmType'] as const;

export const vmInstanceRequested = defineEvent(
  'vm.instance.request',
  z.object({
    ...ids,
    image: z.string(),
    machineType: z.string(),
    task: Task.nullable(),
    tokenHash: z.string(),
    sealedToken: z.string(),
    /** A REMOTE_DOCKER instance's engine TLS (its CA, the CA's key, the client's certificate and key), sealed. */
    sealedEngineTls: z.string().nullable().default(null),
  }),
  { publicFields: [...idFields, 'image', 'machineType', 'task'] },
);
/** The cloud started it: its instance id (`i-…`, or the GCE instance name). */
export const vmInstanceStarted = defineEvent('vm.instance.start', z.object({ ...ids, cloudId: z.string(), address: z.string().nullable() }), {
  publicFields: [...idFields, 'cloudId', 'address'],
});
/** A REMOTE_DOCKER instance is ready: its Docker engine answered over TLS at its address. (A machine VM's readiness is its agent's registration.) */
export const vmInstanceReady = defineEvent('vm.instance.ready', z.object({ ...ids, cloudId: z.string(), address: z.string().nullable() }), {
  publicFields: [...idFields, 'cloudId', 'address'],
});
/** A prescaled instance was given to a task. */
export const vmInstanceAssigned = defineEvent('vm.instance.assign', z.object({ ...ids, cloudId: z.string().nullable(), task: Task }), {
  publicFields: [...idFields, 'cloudId', 'task'],
});
/** It could not be started, or never became ready, or the cloud lost it: the cloud's words. */
export const vmInstanceFailed = defineEvent('vm.instance.fail', z.object({ ...ids, cloudId: z.string().nullable(), code: z.string(), reason: z.string() }), {
  publicFields: [...idFields, 'cloudId', 'code', 'reason'],
});
/** It was terminated (deleted on GCE), or never started: its token no longer works. */
export const vmInstanceTerminated = defineEvent('vm.instance.terminate', z.object({ ...ids, cloudId: z.string().nullable(), reason: z.string() }), {
  publicFields: [...idFields, 'cloudId', 'reason'],
});

export const vmInstanceEvents = [vmInstanceRequested, vmInstanceStarted, vmInstanceReady, vmInstanceAssigned, vmInstanceFailed, vmInstanceTerminated];
export type VmInstanceEvent =
  | EventOf<typeof vmInstanceRequested>
  | EventOf<typeof vmInstanceStarted>
  | EventOf<typeof vmInstanceReady>
  | EventOf<typeof vmInstanceAssigned>
  | EventOf<typeof vmInstanceFailed>
  | EventOf<typeof vmInstanceTerminated>;
export type VmTask = z.infer<typeof Task>;

export interface VmInstanceRecord {
  readonly instanceId: string;
  readonly provider: 'AWS' | 'GCP';
  readonly vmType: (typeof vmTypes)[number];
  readonly image: string;
  readonly machineType: string;
  /** Requested for a task: false for a prescaled instance, even once it is given one. */
  readonly forTask: boolean;
  readonly task: VmTask | null;
  readonly cloudId: string | null;
  /** Where the cloud says it is (its private address), once known. */
  readonly address: string | null;
  readonly ready: boolean;
  readonly failed: boolean;
  readonly terminated: boolean;
}
export type VmInstanceState = VmInstanceRecord | null;

export type VmInstanceCommand =
  | {
      type: 'request';
      instanceId: string;
      provider: 'AWS' | 'GCP';
      vmType: VmInstanceRecord['vmType'];
      image: string;
      machineType: string;
      task: VmTask | null;
      tokenHash: string;
      sealedToken: string;
      sealedEngineTls: string | null;
    }
  | { type: 'start'; cloudId: string; address: string | null }
  | { type: 'ready'; address: string | null }
  | { type: 'assign'; task: VmTask }
  | { type: 'fail'; code: string; reason: string }
  | { type: 'terminate'; reason: string };

const evolve = (s: VmInstanceState, e: VmInstanceEvent): VmInstanceState => {
  if (e.type === 'vm.instance.request') {
    const { instanceId, provider, vmType, image, machineType, task } = e.data;
    return {
      instanceId,
      provider,
      vmType,
      image,
      machineType,
      forTask: task !== null,
      task,
      cloudId: null,
      address: null,
      ready: false,
      failed: false,
      terminated: false,
    };
  }
  if (!s) return s;
  switch (e.type) {
    case 'vm.instance.start':
      return { ...s, cloudId: e.data.cloudId, address: e.data.address };
    case 'vm.instance.ready':
      return { ...s, ready: true, address: e.data.address ?? s.address };
    case 'vm.instance.assign':
      return { ...s, task: e.data.task };
    case 'vm.instance.fail':
      return { ...s, failed: true };
    case 'vm.instance.terminate':
      return { ...s, terminated: true };
  }
};

const idsOf = (s: VmInstanceRecord) => ({ instanceId: s.instanceId, provider: s.provider, vmType: s.vmType });

/** Facts the cloud told are recorded once: told again, they change nothing. Only an idle, live, prescaled instance can be given a task. */
export const vmInstanceDecider: Decider<VmInstanceState, VmInstanceCommand, VmInstanceEvent> = {
  initialState: () => null,
  evolve,
  decide: (c, s) => {
    if (c.type === 'request') {
      if (s) return [];
      const { type: _, ...data } = c;
      return [{ type: 'vm.instance.request', data }];
    }
    if (!s) throw new DomainError('NOT_FOUND', 'no such VM instance');
    if (s.terminated) {
      if (c.type === 'assign') throw new DomainError('VM_TAKEN', `VM instance ${s.instanceId} is terminated`);
      return [];
    }
    switch (c.type) {
      case 'start':
        return s.cloudId === c.cloudId ? [] : [{ type: 'vm.instance.start', data: { ...idsOf(s), cloudId: c.cloudId, address: c.address } }];
      case 'ready':
        if (s.ready || s.failed) return [];
        if (!s.cloudId) throw new DomainError('VM_NOT_STARTED', `VM instance ${s.instanceId} was never started`);
        return [{ type: 'vm.instance.ready', data: { ...idsOf(s), cloudId: s.cloudId, address: c.address ?? s.address } }];
      case 'assign':
        if (s.task?.jobId === c.task.jobId && s.task.taskIndex === c.task.taskIndex) return [];
        if (s.task || s.failed) throw new DomainError('VM_TAKEN', `VM instance ${s.instanceId} is ${s.failed ? 'failed' : 'taken'}`);
        return [{ type: 'vm.instance.assign', data: { ...idsOf(s), cloudId: s.cloudId, task: c.task } }];
      case 'fail':
        return s.failed ? [] : [{ type: 'vm.instance.fail', data: { ...idsOf(s), cloudId: s.cloudId, code: c.code, reason: c.reason } }];
      case 'terminate':
        return [{ type: 'vm.instance.terminate', data: { ...idsOf(s), cloudId: s.cloudId, reason: c.reason } }];
    }
  },
};

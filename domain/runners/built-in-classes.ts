import { DomainError } from '../errors.ts';
import { isRecord, truthy } from '../config/values.ts';

/** A size a job can ask for: vCPUs and memory in MB. */
export interface Size {
  readonly cpus: number;
  readonly memoryMb: number;
}

/** CircleCI's Docker resource classes (x86). */
export const dockerClasses: Readonly<Record<string, Size>> = {
  small: { cpus: 1, memoryMb: 2048 },
  medium: { cpus: 2, memoryMb: 4096 },
  'medium+': { cpus: 3, memoryMb: 6144 },
  large: { cpus: 4, memoryMb: 8192 },
  xlarge: { cpus: 8, memoryMb: 16384 },
  '2xlarge': { cpus: 16, memoryMb: 32768 },
};
export const defaultDockerClass = 'medium';

/** CircleCI's Linux VM (`machine`) resource classes. */
export const machineClasses: Readonly<Record<string, Size>> = {
  medium: { cpus: 2, memoryMb: 7680 },
  large: { cpus: 4, memoryMb: 15360 },
  xlarge: { cpus: 8, memoryMb: 32768 },
  '2xlarge': { cpus: 16, memoryMb: 65536 },
};
export const defaultMachineClass = 'medium';

/**
 * Where a job runs and how much it takes. A self-hosted class (`namespace/name`) says nothing of its
 * size: cpus and memoryMb are null, and its runner takes one task at a time.
 */
export type JobResourceClass =
  | { readonly kind: 'docker' | 'machine'; readonly name: string; readonly cpus: number; readonly memoryMb: number }
  | { readonly kind: 'self-hosted'; readonly name: string; readonly cpus: null; readonly memoryMb: null };

/** A processed job's executor (`docker`, or `machine: true | {image}`) and `resource_class`, as the scheduler places it. */
export const resourceClassOf = (job: Readonly<Record<string, unknown>>): JobResourceClass => {
  const raw = job.resource_class;
  if (raw !== undefined && raw !== null && typeof raw !== 'string')
    throw new DomainError('BAD_RESOURCE_CLASS', 'resource_class must be a string, like medium or my-org/my-runner');
  const name = raw?.trim() || undefined;
  if (name?.includes('/')) return { kind: 'self-hosted', name, cpus: null, memoryMb: null };
  const machine = job.machine !== undefined && (truthy(job.machine) || isRecord(job.machine));
  const [kind, classes, fallback] = machine
    ? (['machine', machineClasses, defaultMachineClass] as const)
    : (['docker', dockerClasses, defaultDockerClass] as const);
  if (!machine && job.docker === undefined) {
    const executor = ['macos', 'windows'].find((k) => job[k] !== undefined) ?? 'no executor';
    throw new DomainError('UNSUPPORTED_EXECUTOR', `Gyre runs docker, machine and self-hosted (namespace/name) jobs, not ${executor}`);
  }
  const chosen = name ?? fallback;
  const size = Object.hasOwn(classes, chosen) ? classes[chosen]! : undefined;
  if (!size)
    throw new DomainError(
      'UNKNOWN_RESOURCE_CLASS',
      `${kind} has no resource class ${chosen}: use one of ${Object.keys(classes).join(', ')}, or a self-hosted class namespace/name`,
    );
  return { kind, name: chosen, ...size };
};

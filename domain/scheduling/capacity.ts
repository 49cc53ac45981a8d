import { DomainError } from '../errors.ts';

export interface Size {
  readonly cpus: number;
  readonly memoryMb: number;
}

/** What the operations guide keeps back on every build machine for coordination. */
export const defaultReserve: Size = { cpus: 2, memoryMb: 4096 };
/** The largest build machine the guide supports. */
export const largestMachine: Size = { cpus: 64, memoryMb: 128 * 1024 };

/**
 * What a build machine offers jobs: all it has less the reserve. A machine over the largest size is
 * refused; one too small for the reserve keeps none back.
 */
export const offeredCapacity = (machine: Size, reserve: Size = defaultReserve): Size => {
  if (machine.cpus > largestMachine.cpus || machine.memoryMb > largestMachine.memoryMb) {
    throw new DomainError(
      'MACHINE_TOO_LARGE',
      `this machine has ${machine.cpus} CPUs and ${Math.round(machine.memoryMb / 1024)} GB of memory: a build machine may have at most ${largestMachine.cpus} CPUs and ${largestMachine.memoryMb / 1024} GB; use smaller machines`,
    );
  }
  if (machine.cpus <= reserve.cpus || machine.memoryMb <= reserve.memoryMb) return machine;
  return { cpus: machine.cpus - reserve.cpus, memoryMb: machine.memoryMb - reserve.memoryMb };
};

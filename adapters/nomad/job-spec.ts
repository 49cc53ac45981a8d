import { classMatches } from '../../domain/nomad/classes.ts';
import type { NomadConstraint, NomadJob } from './port.ts';

/** How Gyre asks Nomad for its tasks: the operator's settings (GYRE_NOMAD_*). */
export interface NomadJobSettings {
  readonly datacenters: ReadonlyArray<string>;
  /** A class's CPUs as whole cores, or as MHz at this many MHz per CPU. */
  readonly cpu: 'cores' | { readonly mhzPerCpu: number };
  /** Every Gyre job runs only on nodes of this node class. */
  readonly nodeClass?: string | undefined;
  /** Constraints by resource class pattern (`docker:*`, `docker:large`). */
  readonly constraints: ReadonlyArray<{ readonly pattern: string; readonly attribute: string; readonly operator: string; readonly value: string }>;
  /** The one-shot agent's command and leading arguments (`gyre`, or `node /opt/gyre/bin/gyre.mjs`). */
  readonly agentCommand: ReadonlyArray<string>;
  /** Where the one-shot agent reaches Gyre. */
  readonly gyreUrl: string;
}

/** The task a Nomad job runs: which, its class and size, and the token its agent claims it with. */
export interface PlacedTask {
  readonly nomadJobId: string;
  readonly name: string;
  readonly taskIndex: number;
  readonly resourceClass: string;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly token: string;
}

/**
 * The batch job that runs one task: one group, one raw_exec task running `gyre agent --one-shot` with
 * the task's token, sized as its class, never restarted or rescheduled by Nomad (a task runs once:
 * Gyre decides what happens after a failure). The same task gives the same job, so registering it
 * again changes nothing.
 */
export const nomadJobOf = (t: PlacedTask, s: NomadJobSettings): NomadJob => {
  const constraints: NomadConstraint[] = [
    ...(s.nodeClass ? [{ LTarget: '${node.class}', RTarget: s.nodeClass, Operand: '=' }] : []),
    ...s.constraints.filter((c) => classMatches(c.pattern, t.resourceClass)).map((c) => ({ LTarget: c.attribute, RTarget: c.value, Operand: c.operator })),
  ];
  const [command, ...leading] = s.agentCommand;
  return {
    ID: t.nomadJobId,
    Name: t.nomadJobId,
    Type: 'batch',
    Datacenters: s.datacenters,
    Constraints: constraints,
    Meta: { 'gyre.job': t.name, 'gyre.task': String(t.taskIndex), 'gyre.resource_class': t.resourceClass },
    TaskGroups: [
      {
        Name: 'task',
        Count: 1,
        RestartPolicy: { Attempts: 0, Mode: 'fail' },
        ReschedulePolicy: { Attempts: 0, Unlimited: false },
        Tasks: [
          {
            Name: 'agent',
            Driver: 'raw_exec',
            Config: {
              command: command!,
              args: [...leading, 'agent', '--one-shot', '--name', 'nomad-${NOMAD_SHORT_ALLOC_ID}', '--work-dir', '${NOMAD_TASK_DIR}/work'],
            },
            Env: {
              GYRE_URL: s.gyreUrl,
              GYRE_TOKEN: t.token,
              ...(s.cpu === 'cores' ? {} : { GYRE_AGENT_MHZ_PER_CPU: String(s.cpu.mhzPerCpu) }),
            },
            Resources:
              s.cpu === 'cores'
                ? { Cores: Math.max(1, Math.ceil(t.cpus)), MemoryMB: t.memoryMb }
                : { CPU: Math.round(t.cpus * s.cpu.mhzPerCpu), MemoryMB: t.memoryMb },
            // the agent ends its steps on SIGTERM and reports them: give it time to
            KillTimeout: 30_000_000_000,
          },
        ],
      },
    ],
  };
};

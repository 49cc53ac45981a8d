import { stringify } from 'yaml';

/** A config as processing leaves it: jobs with executors and commands inlined, workflows with requires resolved. */
export interface ProcessedJob {
  readonly steps: ReadonlyArray<unknown>;
  readonly [key: string]: unknown;
}
export interface WorkflowJob {
  readonly name: string;
  readonly type?: 'approval';
  readonly requires: ReadonlyArray<string>;
  readonly context: ReadonlyArray<string>;
  readonly filters?: unknown;
}
export interface ProcessedWorkflow {
  readonly jobs: ReadonlyArray<WorkflowJob>;
  readonly triggers?: unknown;
}
export interface ProcessedConfig {
  readonly setup: boolean;
  readonly jobs: Readonly<Record<string, ProcessedJob>>;
  readonly workflows: Readonly<Record<string, ProcessedWorkflow>>;
}

/** The processed config in CircleCI's version 2 form, as `circleci config process` prints it. */
export const toYaml = (c: ProcessedConfig): string => {
  const workflows: Record<string, unknown> = { version: 2 };
  for (const [name, wf] of Object.entries(c.workflows)) {
    workflows[name] = {
      ...(wf.triggers !== undefined ? { triggers: wf.triggers } : {}),
      jobs: wf.jobs.map((j) => {
        const settings = {
          ...(j.type ? { type: j.type } : {}),
          ...(j.requires.length ? { requires: j.requires } : {}),
          ...(j.context.length ? { context: j.context } : {}),
          ...(j.filters ? { filters: j.filters } : {}),
        };
        return Object.keys(settings).length ? { [j.name]: settings } : j.name;
      }),
    };
  }
  return stringify({ version: 2, ...(c.setup ? { setup: true } : {}), jobs: c.jobs, workflows }, { lineWidth: 0, aliasDuplicateObjects: false });
};

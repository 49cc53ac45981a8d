import { z } from 'zod';
import { isRecord } from '../config/values.ts';

/** A `run` or `save_cache` step's `when`: on_success runs only while every earlier step passed. */
export const StepWhen = z.enum(['on_success', 'on_fail', 'always']);
export type StepWhen = z.infer<typeof StepWhen>;

/**
 * A step as an agent runs it: checkout, run, the file steps (artifacts, caches, workspaces, test
 * results), `setup_remote_docker` (a Docker engine on a VM of the VM service, for the later steps), and
 * `unsupported` steps (SSH keys, anything unknown), which agents skip printing their message.
 */
export const Step = z.discriminatedUnion('type', [
  z.object({ type: z.literal('checkout'), name: z.string(), path: z.string().nullable() }),
  z.object({
    type: z.literal('run'),
    name: z.string(),
    command: z.string(),
    shell: z.string().nullable(),
    environment: z.record(z.string(), z.string()),
    workingDirectory: z.string().nullable(),
    background: z.boolean(),
    noOutputTimeoutMs: z.number().int().positive(),
    when: StepWhen,
  }),
  z.object({ type: z.literal('store_artifacts'), name: z.string(), path: z.string(), destination: z.string().nullable() }),
  z.object({ type: z.literal('store_test_results'), name: z.string(), path: z.string() }),
  z.object({ type: z.literal('save_cache'), name: z.string(), key: z.string(), paths: z.array(z.string()), when: StepWhen }),
  z.object({ type: z.literal('restore_cache'), name: z.string(), keys: z.array(z.string()) }),
  z.object({ type: z.literal('persist_to_workspace'), name: z.string(), root: z.string(), paths: z.array(z.string()) }),
  z.object({ type: z.literal('attach_workspace'), name: z.string(), at: z.string() }),
  /** `version` and `docker_layer_caching` as the config gave them: the engine is the VM image's, and starts with no layers. */
  z.object({ type: z.literal('setup_remote_docker'), name: z.string(), version: z.string().nullable(), dockerLayerCaching: z.boolean() }),
  z.object({ type: z.literal('unsupported'), name: z.string(), step: z.string(), message: z.string() }),
]);
export type Step = z.infer<typeof Step>;

export const defaultNoOutputTimeoutMs = 10 * 60_000;

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** CircleCI's durations (`10m`, `1h30m`, `90s`, `20m0s`); null when the text is not one. */
export const parseDuration = (text: unknown): number | null => {
  if (typeof text === 'number' && Number.isFinite(text) && text > 0) return Math.round(text * 1000);
  if (typeof text !== 'string' || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text.trim())) return null;
  let total = 0;
  for (const m of text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total > 0 ? Math.round(total) : null;
};

/** CircleCI's names for built-in steps that have no `name` of their own. */
const defaultNames: Record<string, string> = {
  checkout: 'Checkout code',
  save_cache: 'Saving cache',
  restore_cache: 'Restoring cache',
  store_artifacts: 'Uploading artifacts',
  store_test_results: 'Uploading test results',
  persist_to_workspace: 'Persisting to workspace',
  attach_workspace: 'Attaching workspace',
  setup_remote_docker: 'Setup a remote Docker engine',
  add_ssh_keys: 'Install additional SSH keys',
};
export type FileStep = Extract<
  Step,
  { type: 'store_artifacts' | 'store_test_results' | 'save_cache' | 'restore_cache' | 'persist_to_workspace' | 'attach_workspace' }
>;
const fileStepTypes: ReadonlySet<string> = new Set<FileStep['type']>([
  'store_artifacts',
  'store_test_results',
  'save_cache',
  'restore_cache',
  'persist_to_workspace',
  'attach_workspace',
]);
export const isFileStep = (s: Step): s is FileStep => fileStepTypes.has(s.type);

const unsupportedSteps: Record<string, string> = {
  add_ssh_keys: 'SSH keys are not available yet: this step was skipped',
};

/** A string, or a list's strings (`paths: dist` and `paths: [dist]` alike). */
const stringList = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v : null);

/** A file step from its arguments, or what it lacks (the step is then skipped as unsupported). */
const fileStep = (kind: string, a: Record<string, unknown>, name: string): FileStep | string | null => {
  switch (kind) {
    case 'store_artifacts': {
      const path = text(a.path);
      return path ? { type: kind, name, path, destination: text(a.destination) } : 'store_artifacts needs a path: this step was skipped';
    }
    case 'store_test_results': {
      const path = text(a.path);
      return path ? { type: kind, name, path } : 'store_test_results needs a path: this step was skipped';
    }
    case 'save_cache': {
      const key = text(a.key);
      const paths = stringList(a.paths);
      if (!key || !paths.length) return 'save_cache needs a key and paths: this step was skipped';
      return { type: kind, name, key, paths, when: StepWhen.safeParse(a.when).data ?? 'on_success' };
    }
    case 'restore_cache': {
      const keys = [...stringList(a.keys), ...stringList(a.key)].filter((k) => k.trim());
      return keys.length ? { type: kind, name, keys } : 'restore_cache needs a key or keys: this step was skipped';
    }
    case 'persist_to_workspace': {
      const root = text(a.root);
      const paths = stringList(a.paths);
      return root && paths.length ? { type: kind, name, root, paths } : 'persist_to_workspace needs a root and paths: this step was skipped';
    }
    case 'attach_workspace': {
      const at = text(a.at);
      return at ? { type: kind, name, at } : 'attach_workspace needs at, the directory to attach to: this step was skipped';
    }
    default:
      return null;
  }
};

const strings = (v: unknown): Record<string, string> =>
  isRecord(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)])) : {};

/** The steps of a processed job (`circleci config process` output), ready for an agent. */
export const stepsOf = (steps: ReadonlyArray<unknown>): Step[] =>
  steps.map((raw): Step => {
    const [kind, args] = typeof raw === 'string' ? [raw, {}] : isRecord(raw) ? (Object.entries(raw)[0] ?? ['', {}]) : ['', {}];
    const a = isRecord(args) ? args : {};
    const name = typeof a.name === 'string' ? a.name : undefined;
    if (kind === 'checkout') return { type: 'checkout', name: name ?? defaultNames.checkout!, path: typeof a.path === 'string' ? a.path : null };
    if (kind === 'run' || kind === 'deploy') {
      const command = typeof args === 'string' ? args : String(a.command ?? '');
      return {
        type: 'run',
        name: name ?? command.split('\n')[0]!.slice(0, 200),
        command,
        shell: typeof a.shell === 'string' ? a.shell : null,
        environment: strings(a.environment),
        workingDirectory: typeof a.working_directory === 'string' ? a.working_directory : null,
        background: a.background === true,
        noOutputTimeoutMs: parseDuration(a.no_output_timeout) ?? defaultNoOutputTimeoutMs,
        when: StepWhen.safeParse(a.when).data ?? 'on_success',
      };
    }
    const stepName = name ?? defaultNames[kind] ?? kind;
    if (kind === 'setup_remote_docker') return { type: kind, name: stepName, version: text(a.version), dockerLayerCaching: a.docker_layer_caching === true };
    const file = fileStep(kind, a, stepName);
    if (file && typeof file !== 'string') return file;
    return { type: 'unsupported', name: stepName, step: kind, message: file ?? unsupportedSteps[kind] ?? `${kind} is not a step Gyre runs: skipped` };
  });

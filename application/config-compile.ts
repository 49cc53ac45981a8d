import { describeProblem, type ConfigProblem } from '../domain/config/problems.ts';
import { ValidationError } from '../domain/errors.ts';
import type { Reads, WithConfigs } from './dependencies.ts';
import { isRecord } from '../domain/config/values.ts';

export interface Compiled {
  readonly valid: boolean;
  readonly sourceYaml: string;
  readonly outputYaml: string;
  readonly errors: ReadonlyArray<ConfigProblem & { readonly text: string }>;
}

/**
 * Processes a config as a pipeline would, with the given parameters and values (`pipeline.`-prefixed
 * keys, as the circleci CLI sends them, or bare ones).
 */
export const compileConfig = async (
  s: Reads & WithConfigs,
  input: { configYaml: unknown; pipelineParameters?: unknown; pipelineValues?: unknown },
): Promise<Compiled> => {
  if (typeof input.configYaml !== 'string') throw new ValidationError('config_yaml must be the text of a config');
  const parameters = input.pipelineParameters ?? {};
  const values = input.pipelineValues ?? {};
  if (!isRecord(parameters)) throw new ValidationError('pipeline_parameters must be a map');
  if (!isRecord(values)) throw new ValidationError('pipeline_values must be a map');
  const bare = Object.fromEntries(
    Object.entries(values)
      .filter(([k]) => !k.startsWith('pipeline.parameters.'))
      .map(([k, v]) => [k.replace(/^pipeline\./, ''), v]),
  );
  const text = input.configYaml;
  const result = await s.configs.process(s, text, { pipelineParameters: parameters, pipelineValues: bare });
  if (result.valid) return { valid: true, sourceYaml: text, outputYaml: result.yaml, errors: [] };
  return { valid: false, sourceYaml: text, outputYaml: '', errors: result.problems.map((p) => ({ ...p, text: describeProblem(p) })) };
};

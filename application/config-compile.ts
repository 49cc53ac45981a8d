import { describeProblem, type ConfigProblem } from '../domain/config/problems.ts';
import { processConfig } from '../domain/config/process.ts';
import { ValidationError } from '../domain/errors.ts';
import { withOrbs } from './orbs.ts';
import type { Reads } from './dependencies.ts';
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
export const compileConfig = async (s: Reads, input: { configYaml: unknown; pipelineParameters?: unknown; pipelineValues?: unknown }): Promise<Compiled> => {
  if (typeof input.configYaml !== 'string') throw new ValidationError('config_yaml must be the text of a config');
  if (input.configYaml.length > 3_000_000) throw new ValidationError('config_yaml is larger than 3 MB');
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
  const result = await withOrbs(s, (resolveOrb) => processConfig(text, { pipelineParameters: parameters, pipelineValues: bare, resolveOrb }));
  if (result.valid) return { valid: true, sourceYaml: text, outputYaml: result.yaml, errors: [] };
  return { valid: false, sourceYaml: text, outputYaml: '', errors: result.problems.map((p) => ({ ...p, text: describeProblem(p) })) };
};

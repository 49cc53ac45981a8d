import type { FastifyInstance } from 'fastify';
import { compileConfig } from '../../application/config-compile.ts';
import type { Services } from '../services.ts';

/**
 * CircleCI's `POST /api/v2/compile-config-with-defaults`, which `circleci config process` and
 * `config validate` call: 200 with `valid`, the source and output YAML, and `errors: [{message}]`.
 * Both spellings of the YAML keys are given, since CLI versions differ.
 */
export const registerCircleCiConfig = (app: FastifyInstance, s: Services) => {
  // room for a config at the size limit written as a JSON string (escapes at most double it), so the limit, not the body, refuses it
  const bodyLimit = 2 * s.configs.sourceBytes + 64 * 1024;
  app.post('/api/v2/compile-config-with-defaults', { bodyLimit }, async (req) => {
    const body = (req.body ?? {}) as { config_yaml?: unknown; options?: { pipeline_parameters?: unknown; pipeline_values?: unknown } };
    const r = await compileConfig(s, {
      configYaml: body.config_yaml,
      pipelineParameters: body.options?.pipeline_parameters,
      pipelineValues: body.options?.pipeline_values,
    });
    return {
      valid: r.valid,
      'source-yaml': r.sourceYaml,
      'output-yaml': r.outputYaml,
      source_yaml: r.sourceYaml,
      output_yaml: r.outputYaml,
      errors: r.errors.map((e) => ({ message: e.text })),
    };
  });
};

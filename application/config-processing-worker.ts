// The worker thread of application/config-processing.ts: one config processed per task, off the event loop.
import { processConfig, type ConfigLimits, type ProcessResult } from '../domain/config/process.ts';
import { resolvingOrbs, type LoadedOrbs } from '../domain/orbs/loaded-orbs.ts';

export interface ProcessingTask {
  readonly text: string;
  readonly pipelineParameters: Readonly<Record<string, unknown>>;
  readonly pipelineValues: Readonly<Record<string, unknown>>;
  readonly limits: ConfigLimits;
  readonly loaded: LoadedOrbs;
}

/** A processing, and the orbs it missed: with any, it is run again once they are loaded. */
export interface Processed {
  readonly result: ProcessResult;
  readonly wanted: string[];
}

export default ({ text, pipelineParameters, pipelineValues, limits, loaded }: ProcessingTask): Processed =>
  resolvingOrbs(loaded, (resolveOrb) => processConfig(text, { pipelineParameters, pipelineValues, limits, resolveOrb }));

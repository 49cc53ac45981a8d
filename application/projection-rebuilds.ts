import { parseInput } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { RebuildRequest, projectionsRebuildRequested, projectionsTarget, readModelsToRebuild } from '../domain/system/projection-rebuilds.ts';
import type { ProjectionRebuilds, RebuildStatus } from '../projections/rebuild.ts';
import type { UseCases } from './dependencies.ts';

/** Use cases that rebuild read models: the rebuilds, and the names of the read models Gyre keeps. */
export interface WithRebuilds {
  readonly rebuilds: ProjectionRebuilds;
  readonly readModels: ReadonlyArray<string>;
}

/**
 * Starts building the named read models (every one when none is named) again from the log beside the
 * live ones, or joins the rebuild already building exactly them, and records who asked. An unknown
 * name is refused before anything starts.
 */
export const rebuildProjections = async (s: UseCases & WithRebuilds, context: CommandContext, requested: unknown): Promise<RebuildStatus> => {
  const names = readModelsToRebuild(parseInput(RebuildRequest, requested, 'names'), s.readModels);
  const started = await s.rebuilds.start(names);
  await s.commands.record(
    'projection-rebuilds',
    { type: projectionsRebuildRequested.type, data: { rebuildId: started.id, names, joined: started.joined } },
    { context, target: projectionsTarget },
  );
  return (await s.rebuilds.status(started.id))!;
};

export const projectionRebuild = (s: WithRebuilds, id: unknown): Promise<RebuildStatus | null> =>
  typeof id === 'string' ? s.rebuilds.status(id) : Promise.resolve(null);

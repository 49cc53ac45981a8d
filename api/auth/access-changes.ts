import type { EventStore } from '../../adapters/eventstore/port.ts';
import type { Position } from '../../domain/events/envelope.ts';
import type { ProjectionRunner } from '../../projections/runner.ts';
import { runnersProjection } from '../../projections/runners.ts';
import { usersProjection } from '../../projections/users.ts';

/**
 * Whether what `authenticate` reads may have changed: accounts, their tokens and sessions (the users
 * read model) and runner tokens (the runners read model). A live subscription checks its caller again
 * only when one of these read models took an event since its last check, not at every event it
 * delivers: a thousand subscribers cost no statement per event.
 */
export interface AccessChanges {
  /** Changes each time an event those read models handle is appended. */
  stamp(): number;
  /** Resolves once those read models hold every such event seen so far, so that a check reads them. */
  settled(): Promise<void>;
  close(): void;
}

const readModels = [usersProjection, runnersProjection];

export const watchAccessChanges = (store: Pick<EventStore, 'subscribe'>, projections: Pick<ProjectionRunner, 'waitFor'>): AccessChanges => {
  const controller = new AbortController();
  let changes = 0;
  let latest: Position | null = null;
  let watching = true;
  void (async () => {
    const types = readModels.flatMap((p) => p.handles);
    for await (const page of store.subscribe('end', { filter: { types }, signal: controller.signal })) {
      if (!page.events.length) continue;
      changes++;
      latest = page.events[page.events.length - 1]!.position;
    }
  })()
    .catch(() => {})
    // not watching any more: every delivery checks its caller again, as if something had changed
    .finally(() => (watching = false));
  return {
    stamp: () => (watching ? changes : ++changes),
    async settled() {
      if (latest)
        await projections.waitFor(
          latest,
          5000,
          readModels.map((p) => p.name),
        );
    },
    close: () => controller.abort(),
  };
};

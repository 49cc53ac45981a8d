import type { ActionFilter } from '../domain/audit/action-filter.ts';
import type { RecordedEvent } from '../domain/events/envelope.ts';

/**
 * A process manager: follows the log from a checkpoint of its own and acts on the events it handles.
 * An event may be delivered again after a crash between `react` and the checkpoint, so `react` issues
 * commands with the event's id as `$causationId` and ids derived from the event, which deciders
 * refuse or ignore the second time.
 */
export interface Reactor {
  /** Names its checkpoint; renaming a reactor makes it start from the beginning of the log. */
  readonly name: string;
  readonly handles: ReadonlyArray<ActionFilter>;
  /** The read models `react` reads (projection names): the runner waits for those to pass an event before it reacts; every one when left out. */
  readonly reads?: ReadonlyArray<string>;
  react(event: RecordedEvent): Promise<void>;
}

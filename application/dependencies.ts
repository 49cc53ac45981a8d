import type { Knex } from 'knex';
import type { Vault } from '../adapters/encryption/port.ts';
import type { EventStore } from '../adapters/eventstore/port.ts';
import type { Git } from '../adapters/git/port.ts';
import type { Position, RecordedEvent } from '../domain/events/envelope.ts';
import type { CommandHandler } from './commands.ts';
import type { ConfigProcessor } from './config-processing.ts';

/**
 * What use cases need, each as narrow as it can be: the API's Services satisfies them all, and a
 * worker passes only what it has.
 */

/** Queries only: read models through `db`. */
export interface Reads {
  readonly db: Knex;
}

/** What every use case that changes something needs. */
export interface UseCases extends Reads {
  readonly commands: CommandHandler;
  /** Waits (bounded) until the read models that handle what was written hold it. */
  readYourWrites(written: Written): Promise<void>;
}

/** What a command appended (a command handler's `Executed` is one): its events, and the position of the last. */
export interface Written {
  readonly position: Position | null;
  readonly events: ReadonlyArray<RecordedEvent>;
}

/** Use cases that fold a stream themselves (a workflow before a rerun or an approval). */
export interface WithStore {
  readonly store: EventStore;
}

/** Use cases that seal secrets or destroy data keys. */
export interface WithVault {
  readonly vault: Vault;
}

/** Use cases that read configs from projects' repositories. */
export interface WithGit {
  readonly git: Git;
}

/** Use cases that process configs (in worker threads, bounded). */
export interface WithConfigs {
  readonly configs: ConfigProcessor;
}

/** Logging as use cases and workers use it (pino's and fastify's loggers satisfy it). */
export interface Logger {
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

import type { Knex } from 'knex';
import type { FastifyBaseLogger } from 'fastify';
import type { CommandHandler } from '../application/commands.ts';
import type { Refusals } from '../application/refusals.ts';
import type { Vault } from '../adapters/encryption/port.ts';
import type { Git } from '../adapters/git/port.ts';
import type { ConfigProcessor } from '../application/config-processing.ts';
import type { GitHub } from '../adapters/github/port.ts';
import type { JobSecrets } from '../workers/job-secrets.ts';
import type { EventStore } from '../adapters/eventstore/port.ts';
import type { Written } from '../application/dependencies.ts';
import type { EventRegistry } from '../domain/events/registry.ts';
import type { ProjectionRunner } from '../projections/runner.ts';
import type { ProjectionRebuilds } from '../projections/rebuild.ts';
import type { ReactorRunner } from '../workers/reactors.ts';
import type { ObjectStore } from '../adapters/objectstore/port.ts';
import type { OutputStore } from '../adapters/output/port.ts';
import type { LiveOutput } from '../application/live-output.ts';
import type { NomadCapacity } from '../application/job-reads.ts';
import type { Dispatch } from '../workers/dispatch.ts';
import type { Config } from './config.ts';
import type { TokenUsage } from './auth/token-usage.ts';
import type { AccessChanges } from './auth/access-changes.ts';
import type { SessionPolicy } from './auth/authenticate.ts';
import type { MembershipRefresh } from '../application/membership-refresh.ts';

/** What the API's edges call: read models through `db`, changes through `commands`; it satisfies every use case's dependencies (application/dependencies.ts). */
export interface Services {
  readonly config: Config;
  readonly db: Knex;
  readonly store: EventStore;
  readonly commands: CommandHandler;
  /** What every refusal goes through: it bounds the events refused requests append (`commands.refuse` is its `refuse`). */
  readonly refusals: Refusals;
  readonly projections: ProjectionRunner;
  /** Builds read models again beside the live ones and swaps them in (rebuildProjections). */
  readonly rebuilds: ProjectionRebuilds;
  /** The names of the read models Gyre keeps. */
  readonly readModels: ReadonlyArray<string>;
  readonly reactors: ReactorRunner;
  readonly registry: EventRegistry;
  readonly log: FastifyBaseLogger;
  readonly tokenUsage: TokenUsage;
  /** How long browser sessions last, by which clock. */
  readonly sessions: SessionPolicy;
  /** Reads a person's organizations and teams from GitHub again when they decide access and are over an hour old. */
  readonly refreshMemberships: MembershipRefresh;
  /** When a live subscription should check its caller again (api/auth/access-changes.ts). */
  readonly access: AccessChanges;
  /** Seals secrets; only job dispatch opens them, through `jobSecrets`. */
  readonly vault: Vault;
  readonly jobSecrets: JobSecrets;
  /** Job output: kept in `output`, pushed live to subscribers through `live`. */
  readonly output: OutputStore;
  readonly live: LiveOutput;
  /** Artifacts, test results, caches and workspaces (and sealed output, through `output`). */
  readonly objects: ObjectStore;
  /** The agent protocol's server side. */
  readonly dispatch: Dispatch;
  /** Nomad's nodes, when Nomad places tasks (GYRE_NOMAD_ADDR). */
  readonly nomad?: NomadCapacity | undefined;
  /** Reads configs from projects' repositories. */
  readonly git: Git;
  /** Processes configs in worker threads, bounded in size, time and memory. */
  readonly configs: ConfigProcessor;
  /** GitHub's REST API (GYRE_GITHUB_API_URL): sign-in, webhooks, commit statuses. */
  readonly github: GitHub;
  /** GYRE_PUBLIC_URL, or this server's own address: what GitHub and links reach Gyre at. */
  readonly publicUrl: string;
  /** Waits (bounded) until the read models that handle what was written hold it, after the reactors that act on it. */
  readYourWrites(written: Written): Promise<void>;
  /** Waits (bounded) until the reactors have acted on the whole log as it stands, and every read model holds it; false when the time ran out. */
  settled(): Promise<boolean>;
}

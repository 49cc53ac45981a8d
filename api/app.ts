import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type GyreError, ValidationError } from '../domain/errors.ts';
import { defaultApiUrl } from '../adapters/github/port.ts';
import { createGitHub } from '../adapters/github/rest.ts';
import { registerGitHubLogin } from './rest/github-login.ts';
import { registerWebUi } from './rest/web-ui.ts';
import { registerSessions } from './rest/sessions.ts';
import type { Knex } from 'knex';
import { openDatabase, withSchemaLock } from '../adapters/database/sql.ts';
import { loadMasterKeys } from '../adapters/encryption/master-keys.ts';
import { createVault } from '../adapters/encryption/vault.ts';
import { createGit } from '../adapters/git/cli.ts';
import { createJobSecrets } from '../workers/job-secrets.ts';
import { createCommandHandler, type CommandHandler } from '../application/commands.ts';
import { createRefusals } from '../application/refusals.ts';
import { createReadYourWrites } from '../application/read-your-writes.ts';
import { approximateLogLength, createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { EventStore } from '../adapters/eventstore/port.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { allProjections } from '../projections/all.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { createProjectionRebuilds } from '../projections/rebuild.ts';
import { watchAccessChanges } from './auth/access-changes.ts';
import { authenticate } from './auth/authenticate.ts';
import { createTokenUsage, ensureTokenUsageTable } from './auth/token-usage.ts';
import { registerCircleCiConfig } from './rest/circleci-config.ts';
import { registerCircleCiContexts } from './rest/circleci-contexts.ts';
import { registerCircleCiPipelines } from './rest/circleci-pipelines.ts';
import { registerGitHubWebhook } from './rest/github-webhook.ts';
import { registerCircleCiMe } from './rest/circleci-me.ts';
import { registerCircleCiProjects } from './rest/circleci-projects.ts';
import { registerCircleCiFollow } from './rest/circleci-follow.ts';
import { registerCircleCiRunners } from './rest/circleci-runners.ts';
import { registerCircleCiInsights } from './rest/circleci-insights.ts';
import { registerOpenApi } from './rest/openapi.ts';
import { createReactorRunner } from '../workers/reactors.ts';
import { AnotherLogError, followLog } from '../application/log-identity.ts';
import { contextKeyDestroyer } from '../workers/context-keys.ts';
import { userKeyDestroyer } from '../workers/user-keys.ts';
import { expiredFilesRemover } from '../workers/expired-files.ts';
import { workflowStarter } from '../workers/workflow-starter.ts';
import { ensureStatusOutboxTable, forgetStatusPositions, githubStatusReactor, startStatusSender, type StatusSender } from '../workers/github-statuses.ts';
import { buildCanceler } from '../workers/build-canceler.ts';
import { scheduledRunStarter, startScheduleWorker } from '../workers/schedules.ts';
import { connectDocker } from '../adapters/docker/connect.ts';
import { createDockerExecutor } from '../adapters/docker/executor.ts';
import { createEcr } from '../adapters/ecr/client.ts';
import { createHostExecutor } from '../adapters/host/executor.ts';
import { createObjectOutputStore } from '../adapters/output/objects.ts';
import { createFileObjectStore } from '../adapters/objectstore/filesystem.ts';
import { createLiveOutput } from '../application/live-output.ts';
import { maxStepOutputBytes } from '../domain/jobs/output.ts';
import { dockerClasses, machineClasses } from '../domain/runners/built-in-classes.ts';
import type { Agent } from '../workers/agent/agent.ts';
import { startLocalAgent } from '../workers/agent/local.ts';
import { createDispatch, ensureHeartbeatTable } from '../workers/dispatch.ts';
import { watchNomadNodes } from '../workers/nomad/nodes.ts';
import { createNomadPlacer } from '../workers/nomad/placer.ts';
import { createVmProvisioner } from '../workers/vm/provisioner.ts';
import { registerCircleCiArtifacts } from './rest/circleci-artifacts.ts';
import { jobProgress } from '../workers/job-progress.ts';
import { startLeaseKeeper } from '../workers/lease-keeper.ts';
import { startRetentionSweeper } from '../workers/retention.ts';
import { scheduler } from '../workers/scheduler.ts';
import { createTaskBoard, wakeBoardOnJobEvents } from '../workers/task-board.ts';
import { registerAgentProtocol } from './rest/agent-protocol.ts';
import { registerCircleCiBuilds } from './rest/circleci-builds.ts';
import { authorize, routeRules, type Rule } from './auth/authorization.ts';
import { assertSameOrigin, crossSiteRequest, safeMethods, signedInByCookie } from './auth/origin.ts';
import { bootstrapAdmin } from '../application/bootstrap.ts';
import { migrateAccounts } from '../application/accounts-migration.ts';
import { type Config, ConfigError } from './config.ts';
import { httpError, isRefusal, requestError } from './errors.ts';
import { registerGraphQL, requestedRules } from './graphql/plugin.ts';
import { commandContext, requestInfo } from './request-context.ts';
import { registerAuditCsv } from './rest/audit-csv.ts';
import { registerHealth } from './rest/health.ts';
import { registerCircleCiSchedules } from './rest/circleci-schedules.ts';
import { connectNomad } from './nomad.ts';
import { vmCloudFor } from './vm.ts';
import { registerMetrics } from './rest/metrics.ts';
import type { Services } from './services.ts';
import { configProcessor } from '../application/config-processing.ts';
import { createMembershipRefresh, type MembershipRefresh } from '../application/membership-refresh.ts';
import { createSessionUsage, ensureSessionUsageTable } from './auth/session-usage.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    rule?: Rule;
    /** Served to Gyre's own pages only: every request that changes something must come from them, signed in or not. */
    ownPagesOnly?: boolean;
  }
}

export interface Gyre {
  readonly app: FastifyInstance;
  readonly services: Services;
  /** The schedules worker: `tick()` decides the runs due now (by the clock of `GyreOptions.now`). */
  readonly schedules: { tick(): Promise<number> };
  /** Creates the first admin and its token when there is none; null when an admin exists. */
  bootstrap(): Promise<{ token: string; file: string } | null>;
  close(): Promise<void>;
}

export interface GyreOptions {
  /** A database the caller owns (tests share one); by default Gyre opens the configured one. */
  readonly db?: Knex;
  readonly logger?: boolean | object;
  /** Where the configured logger writes (default stdout): tests read the log through it. */
  readonly logStream?: { write(line: string): void };
  /** The clock sessions age by and schedules run by (default Date.now): tests move it past GYRE_SESSION_MAX_AGE_HOURS, or past a schedule's slot. */
  readonly now?: () => number;
  /** Told of every route as it is registered: tests walk the routes Gyre serves. */
  readonly onRoute?: (route: { method: string | string[]; url: string }) => void;
}

const ruleFor = (method: string, url: string): Rule | undefined => routeRules[`${method === 'HEAD' ? 'GET' : method} ${url}`];

/** Every route must have a line in the authorization table; its rule rides along in the route's config. */
export const enforceRouteRules = (app: FastifyInstance): void => {
  app.addHook('onRoute', (route) => {
    const methods = ([] as string[]).concat(route.method);
    for (const m of methods)
      if (!ruleFor(m, route.url)) throw new Error(`route ${m} ${route.url} has no authorization rule: add one to api/auth/authorization.ts`);
    route.config = { ...(route.config as object), rule: ruleFor(methods[0]!, route.url) };
  });
};

/** A query string may hold a one-time code or a secret sent by mistake: the log keeps its parameter names only. */
const loggedUrl = (url: string): string => {
  const [path, query] = url.split('?', 2);
  if (!query) return path!;
  return `${path}?${[...new URLSearchParams(query).keys()].map((k) => `${k}=…`).join('&')}`;
};

/** A body that does not parse, is too large or is not JSON: what a route refuses before its use case runs. */
const badInput = (e: GyreError): boolean => e instanceof ValidationError || e.status === 413 || e.status === 415;

/** The audit actions a refused cross-site request is recorded under: its route's, or the GraphQL fields it asked for. */
const crossSiteActions = (req: FastifyRequest): string[] => {
  const rule = req.routeOptions.config.rule;
  if (rule && rule.role !== 'anonymous') return [rule.action];
  if (rule?.refusedAs) return [rule.refusedAs];
  if (req.routeOptions.url !== '/graphql') return [];
  const asked = requestedRules((req.body as { query?: unknown } | undefined)?.query).map((r) => r.action);
  return asked.length ? [...new Set(asked)] : ['graphql.document.reject'];
};

/** This server's own id, kept in its data directory: its local agent is known again after a restart, and is not another server's. */
const localServerId = (dataDir: string): string => {
  const file = join(dataDir, 'server-id');
  if (!existsSync(file)) writeFileSync(file, `${randomUUID()}\n`, { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
};

/**
 * The event log: EventStoreDB when GYRE_EVENTSTORE_URL names one (read models and checkpoints stay in `db`), else the
 * events table of `db`. A server that cannot be reached stops start-up as a wrong setting does.
 */
const openEventStore = async (config: Config, db: Knex, log: FastifyInstance['log']): Promise<EventStore> => {
  if (!config.GYRE_EVENTSTORE_URL) return createPostgresEventStore(db);
  // the gRPC client loads only where it is configured
  const { connectEventStoreDb } = await import('../adapters/eventstore/eventstoredb.ts');
  try {
    return await connectEventStoreDb(config.GYRE_EVENTSTORE_URL, {
      variable: 'GYRE_EVENTSTORE_URL',
      onError: (err) => log.warn({ err }, 'EventStoreDB subscription dropped; subscribing again from its last position'),
    });
  } catch (e) {
    throw new ConfigError(`invalid configuration:\n  GYRE_EVENTSTORE_URL: ${(e as Error).message}`);
  }
};

/** The one wiring module: picks the adapters from the configuration and builds the server. */
export const createGyre = async (config: Config, options: GyreOptions = {}): Promise<Gyre> => {
  const dataDir = resolve(config.GYRE_DATA_DIR);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const publicUrl = (config.GYRE_PUBLIC_URL ?? `http://${config.GYRE_HOST}:${config.GYRE_PORT}`).replace(/\/+$/, '');
  // before anything opens: a Nomad that does not answer stops start-up as a wrong setting does
  const nomad = await connectNomad(config, publicUrl);
  const ownsDb = !options.db;
  const db = options.db ?? openDatabase({ url: config.GYRE_DATABASE_URL, dataDir: config.GYRE_DATABASE_URL ? undefined : join(dataDir, 'pglite') });
  const app = fastify({
    logger: options.logger ?? {
      level: config.GYRE_LOG_LEVEL,
      serializers: { req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: loggedUrl(req.url), remoteAddress: req.ip }) },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    genReqId: () => randomUUID(),
    trustProxy:
      config.GYRE_TRUST_PROXY === undefined ? false : config.GYRE_TRUST_PROXY === 'true' ? true : config.GYRE_TRUST_PROXY.split(',').map((a) => a.trim()),
  });
  const store = await openEventStore(config, db, app.log).catch(async (e) => {
    if (ownsDb) await db.destroy();
    throw e;
  });
  const followed = await followLog({ db, store, projections: allProjections, migrate: withSchemaLock, forgetPositions: [forgetStatusPositions] }).catch(
    async (e) => {
      await store.close();
      if (ownsDb) await db.destroy();
      throw e instanceof AnotherLogError
        ? new ConfigError(`invalid configuration:\n  ${config.GYRE_EVENTSTORE_URL ? 'GYRE_EVENTSTORE_URL' : 'the event log'}: ${e.message}`)
        : e;
    },
  );
  if (followed.changed)
    app.log.warn(
      { from: followed.from },
      'this log is a copy of the one the read models followed: they are built again from it, and the reactors go on where they were',
    );
  const projections = createProjectionRunner({
    store,
    db,
    migrate: withSchemaLock,
    projections: allProjections,
    onError: (name, err) => app.log.error({ err, projection: name }, 'projection failed; retrying'),
  });
  const rebuilds = createProjectionRebuilds({
    db,
    store,
    runner: projections,
    projections: allProjections,
    migrate: withSchemaLock,
    // an estimate for the progress shown; EventStoreDB's log holds the server's own events too, and is not counted
    ...(config.GYRE_EVENTSTORE_URL ? {} : { logLength: () => approximateLogLength(db) }),
    // the embedded database has one connection: shadows take turns on it anyway, and the server's queries wait behind them
    ...(config.GYRE_DATABASE_URL ? { concurrency: 4 } : { concurrency: 1, share: 0.5, pageSize: 500 }),
    onError: (rebuild, err) => app.log.error({ err, rebuild }, 'projection rebuild failed'),
  });
  const masterKeys = loadMasterKeys({ configured: config.GYRE_MASTER_KEY, previous: config.GYRE_MASTER_KEY_PREVIOUS, dataDir, warn: (m) => app.log.warn(m) });
  const { vault, opener } = await createVault(db, masterKeys);
  const recorded = createCommandHandler(store, eventRegistry);
  const refusals = createRefusals(
    recorded,
    {
      perSource: config.GYRE_AUDIT_REFUSALS_PER_SOURCE,
      perWindow: config.GYRE_AUDIT_REFUSALS_PER_MINUTE,
      sources: config.GYRE_AUDIT_REFUSALS_PER_MINUTE,
      windowMs: 60_000,
    },
    { now: options.now, onError: (err) => app.log.error({ err }, 'could not record a summary of refusals') },
  );
  const commands: CommandHandler = { ...recorded, refuse: refusals.refuse };
  // before anything serves: the accounts of the one stream of earlier versions into streams of their own
  const migrated = await migrateAccounts({ store, commands });
  if (migrated) app.log.info(migrated, 'accounts moved from the one accounts stream into streams of their own');
  const git = createGit(join(dataDir, 'repos'), {
    mirrorQuotaBytes: config.GYRE_GIT_MIRROR_QUOTA_MB * 1024 * 1024,
    mirrorsQuotaBytes: config.GYRE_GIT_MIRRORS_QUOTA_MB * 1024 * 1024,
    fetchConcurrency: config.GYRE_GIT_FETCH_CONCURRENCY,
  });
  const jobSecrets = createJobSecrets({ store, opener, commands });
  // the S3 adapter (and its SDK, some 20 MB of memory) loads only where it is configured
  const s3 = config.GYRE_OBJECT_STORE_URL ? await import('../adapters/objectstore/s3.ts') : null;
  const objects =
    s3 && config.GYRE_OBJECT_STORE_URL
      ? s3.createS3ObjectStore({
          ...s3.parseS3Url(config.GYRE_OBJECT_STORE_URL),
          ...(config.GYRE_S3_ENDPOINT ? { endpoint: config.GYRE_S3_ENDPOINT } : {}),
          forcePathStyle: config.GYRE_S3_FORCE_PATH_STYLE === 'true',
          spoolDir: join(dataDir, 'spool', 'uploads'),
        })
      : createFileObjectStore(join(dataDir, 'objects'));
  const output = createObjectOutputStore(objects, join(dataDir, 'spool', 'output'), maxStepOutputBytes, join(dataDir, 'output'));
  const live = createLiveOutput();
  const board = createTaskBoard();
  const leaseMs = config.GYRE_AGENT_LEASE_MS;
  const github = createGitHub(config.GYRE_GITHUB_API_URL ?? defaultApiUrl(config.GYRE_GITHUB_URL));
  // reactors read the read models and issue commands; they never wait for reactors themselves
  const configs = configProcessor({
    sourceBytes: config.GYRE_CONFIG_MAX_SOURCE_BYTES,
    processedBytes: config.GYRE_CONFIG_MAX_PROCESSED_BYTES,
    matrixCombinations: config.GYRE_CONFIG_MAX_MATRIX_COMBINATIONS,
    jobsPerWorkflow: config.GYRE_CONFIG_MAX_WORKFLOW_JOBS,
    steps: config.GYRE_CONFIG_MAX_STEPS,
    timeoutMs: config.GYRE_CONFIG_PROCESSING_TIMEOUT_MS,
    memoryMb: config.GYRE_CONFIG_PROCESSING_MEMORY_MB,
    queued: config.GYRE_CONFIG_PROCESSING_QUEUE,
    ...(config.GYRE_CONFIG_PROCESSING_THREADS ? { threads: config.GYRE_CONFIG_PROCESSING_THREADS } : {}),
  });
  const reactorDeps = { db, store, commands, vault, git, configs, readYourWrites: async () => {} };
  const builtIn = { docker: Object.keys(dockerClasses), machine: Object.keys(machineClasses) };
  const dispatch = createDispatch(
    {
      ...reactorDeps,
      jobSecrets,
      output,
      objects,
      live,
      board,
      projections,
      remoteEngine: (t) => vm.remoteEngine(t),
      settings: { heartbeatMs: Math.min(1000, Math.floor(leaseMs / 3)), leaseMs, publicUrl },
    },
    builtIn,
    // the classes Gyre's own agents leave to Nomad or to the VM service (whose configuration can change at any time)
    (rc) => (nomad?.serves(rc) ?? false) || vm.serves(rc),
  );
  const placer =
    nomad &&
    createNomadPlacer({
      ...reactorDeps,
      jobSecrets,
      nomad: nomad.nomad,
      settings: nomad.settings,
      serves: nomad.serves,
      endTask: dispatch.endTask,
      log: app.log,
    });
  const vm = createVmProvisioner({
    ...reactorDeps,
    projections,
    jobSecrets,
    cloudFor: vmCloudFor(config),
    placedElsewhere: (rc) => nomad?.serves(rc) ?? false,
    endTask: dispatch.endTask,
    log: app.log,
    agentCommand: config.GYRE_VM_AGENT_COMMAND,
    dockerdCommand: config.GYRE_VM_DOCKERD_COMMAND,
    gyreUrl: publicUrl,
    readyTimeoutMs: config.GYRE_VM_READY_TIMEOUT_MS,
  });
  const nomadNodes =
    nomad &&
    watchNomadNodes(nomad.nomad, {
      classes: [...builtIn.docker.map((c) => `docker:${c}`), ...builtIn.machine.map((c) => `machine:${c}`)].filter(nomad.serves),
      datacenters: nomad.settings.datacenters,
      nodeClass: nomad.settings.nodeClass,
      log: app.log,
    });
  // commit statuses: the reactor fills the outbox, the sender (started below) posts it; the reactor wakes it
  let statusSender: StatusSender | null = null;
  const statuses = githubStatusReactor({ db, publicUrl, wake: () => statusSender?.wake() });
  const reactors = createReactorRunner({
    store,
    db,
    projections,
    migrate: withSchemaLock,
    log: app.log,
    reactors: [
      workflowStarter(reactorDeps),
      buildCanceler(reactorDeps),
      contextKeyDestroyer(reactorDeps),
      scheduler({ ...reactorDeps, board, projections, timeLimitMs: config.GYRE_JOB_TIME_LIMIT_MS }),
      jobProgress(reactorDeps),
      expiredFilesRemover({ db, objects, output }),
      statuses,
      userKeyDestroyer(reactorDeps),
      scheduledRunStarter({ ...reactorDeps, log: app.log, projections }),
      ...(placer ? [placer.reactor] : []),
      vm.reactor,
    ],
  });
  const access = watchAccessChanges(store, projections);
  let refreshMemberships: MembershipRefresh = async () => undefined;
  const services: Services = {
    config,
    refreshMemberships: (user) => refreshMemberships(user),
    db,
    store,
    commands,
    refusals,
    projections,
    rebuilds,
    readModels: allProjections.map((p) => p.name),
    reactors,
    registry: eventRegistry,
    log: app.log,
    tokenUsage: createTokenUsage(db),
    sessions: {
      maxAgeMs: config.GYRE_SESSION_MAX_AGE_HOURS * 3_600_000,
      prefixedCookieOnly: config.GYRE_PUBLIC_URL?.startsWith('https:') ?? false,
      idleMs: config.GYRE_SESSION_IDLE_HOURS * 3_600_000,
      usage: createSessionUsage(db),
      now: options.now ?? Date.now,
    },
    access,
    vault,
    jobSecrets,
    output,
    live,
    objects,
    dispatch,
    nomad: nomadNodes ?? undefined,
    git,
    configs,
    github,
    publicUrl,
    ...createReadYourWrites({ head: () => store.head(), projections, reactors, log: app.log }),
  };

  refreshMemberships = createMembershipRefresh({ ...services, now: services.sessions.now });
  enforceRouteRules(app);
  if (options.onRoute) app.addHook('onRoute', options.onRoute);
  // before every API v2 route: it lists them as they are registered
  registerOpenApi(app);
  // some API clients send Content-Type: application/json on a DELETE without a body, and CircleCI takes it
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) =>
    body === '' ? done(null, undefined) : json(req, body as string, done),
  );
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await withSchemaLock(db, async (trx) => {
    await ensureTokenUsageTable(trx);
    await ensureSessionUsageTable(trx);
    await ensureHeartbeatTable(trx);
    await ensureStatusOutboxTable(trx);
  });
  app.addHook('onRequest', async (req) => {
    req.auth = await authenticate(db, services.sessions, req.headers, req.cookies);
    if (req.auth.kind === 'user' && req.auth.tokenId) await services.tokenUsage.touch(req.auth.tokenId);
  });
  const refuse = (req: FastifyRequest, action: string, error: GyreError) =>
    services.commands.refuse(
      action,
      { reason: error.message, code: error.code, status: error.status, operation: `${req.method} ${req.routeOptions.url}` },
      { context: commandContext(req.auth, requestInfo(req)) },
    );
  app.addHook('preHandler', async (req) => {
    if (!safeMethods.has(req.method) && (signedInByCookie(req.auth) || req.routeOptions.config.ownPagesOnly)) {
      // recorded here: GraphQL's routes answer their errors with mercurius's own handler
      try {
        assertSameOrigin(config.GYRE_PUBLIC_URL, req);
      } catch (e) {
        for (const action of crossSiteActions(req)) await refuse(req, action, e as GyreError);
        throw e;
      }
    }
    const rule = req.routeOptions.config.rule;
    if (rule) authorize(rule, req.auth);
  });
  app.setErrorHandler(async (raw, req, reply) => {
    const rule = req.routeOptions.config?.rule;
    const error = requestError(raw);
    if (isRefusal(error) && rule && error.code !== crossSiteRequest) {
      if (rule.role !== 'anonymous') await refuse(req, rule.action, error);
      // an open route's use case records its own refusals (a wrong token, a suspended account); input it never got is recorded here
      else if (rule.refusedAs && badInput(error)) await refuse(req, rule.refusedAs, error);
    }
    return httpError(error, req, reply);
  });
  // every answer: never sniffed into another type, never framed by another site's page (the web UI's own policy says so as well)
  app.addHook('onSend', async (req, reply) => {
    // a refusal is recorded before its answer goes out, even one a sibling GraphQL field is still recording
    await refusals.settled(String(req.id));
    reply.header('X-Content-Type-Options', 'nosniff').header('X-Frame-Options', 'DENY');
    if (!reply.hasHeader('Content-Security-Policy') && !reply.raw.hasHeader('Content-Security-Policy'))
      reply.header('Content-Security-Policy', "frame-ancestors 'none'");
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ message: `no route ${req.method} ${req.url.split('?')[0]}`, code: 'NOT_FOUND' }));

  registerHealth(app, services);
  registerMetrics(app, { db, presence: () => dispatch.presence(), nomad: nomadNodes ?? undefined }, config.GYRE_METRICS_TOKEN);
  registerAuditCsv(app, services);
  registerCircleCiMe(app, services);
  registerCircleCiContexts(app, services);
  registerCircleCiProjects(app, services);
  registerCircleCiFollow(app, services);
  registerCircleCiConfig(app, services);
  registerCircleCiPipelines(app, services);
  registerCircleCiRunners(app, services);
  registerCircleCiInsights(app, services);
  registerCircleCiSchedules(app, services, options.now ?? Date.now);
  registerCircleCiBuilds(app, { db, output, publicUrl: config.GYRE_PUBLIC_URL });
  registerCircleCiArtifacts(app, { db, objects, publicUrl: config.GYRE_PUBLIC_URL });
  registerAgentProtocol(app, dispatch);
  await registerGitHubWebhook(app, services, options.now ?? Date.now);
  await registerWebUi(app);
  registerSessions(app, services);
  await registerGitHubLogin(app, services, github);
  await registerGraphQL(app, services);
  await projections.start();
  await reactors.start();
  await nomadNodes?.start();
  await placer?.start();
  await vm.start();
  const boardFeed = wakeBoardOnJobEvents({ store, projections, board, log: app.log });
  statusSender = startStatusSender({ db, github, tokens: jobSecrets, log: app.log });
  const leaseKeeper = startLeaseKeeper({ db, dispatch, leaseMs, log: app.log });
  const retention = startRetentionSweeper({ db, commands, log: app.log, intervalMs: config.GYRE_RETENTION_SWEEP_MS });
  const schedules = startScheduleWorker({
    db,
    commands,
    readYourWrites: async () => {},
    log: app.log,
    now: options.now ?? Date.now,
    intervalMs: config.GYRE_SCHEDULE_TICK_MS,
  });
  let agent: Agent | null = null;
  if (config.GYRE_LOCAL_AGENT === 'true') {
    const serverId = localServerId(dataDir);
    const connected = await connectDocker();
    const docker = 'docker' in connected ? createDockerExecutor(connected.docker, { agentId: `local:${serverId}` }) : connected;
    const host =
      config.GYRE_LOCAL_MACHINE_JOBS === 'true'
        ? createHostExecutor({ root: join(dataDir, 'tasks') })
        : { reason: "machine jobs are off on the local agent: set GYRE_LOCAL_MACHINE_JOBS=true to run them on this host, as the server's own user" };
    // what this server's agent left when the server was killed: its containers, its steps' processes, their directories
    if ('removeLeftovers' in docker) await docker.removeLeftovers();
    if ('removeLeftovers' in host) await host.removeLeftovers();
    agent = await startLocalAgent({
      channel: dispatch.channel({ kind: 'local', serverId }),
      git,
      docker,
      host,
      // the AWS SDK's own settings point it elsewhere (AWS_ENDPOINT_URL_ECR)
      ecr: createEcr(),
      log: (message, fields) => app.log.info(fields ?? {}, message),
    });
  }

  return {
    app,
    services,
    schedules: { tick: schedules.tick },
    async bootstrap() {
      await projections.waitFor(await store.head(), 10 * 60_000);
      return bootstrapAdmin(services, dataDir);
    },
    async close() {
      await agent?.stop({ abandon: true });
      await leaseKeeper.stop();
      await retention.stop();
      await schedules.stop();
      await app.close();
      await refusals.close();
      await placer?.stop();
      await vm.stop();
      await reactors.stop();
      await nomadNodes?.stop();
      nomad?.nomad.close();
      access.close();
      await statusSender?.stop();
      await boardFeed.stop();
      await rebuilds.stop();
      await projections.stop();
      await store.close();
      await configs.close();
      if (ownsDb) await db.destroy();
    },
  };
};

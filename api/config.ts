import { z } from 'zod';
import { defaultConfigLimits } from '../domain/config/limits.ts';

const url = (protocols: string[], example: string) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `must be a ${protocols.join(' or ')} URL such as ${example}`,
    );

const list = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) => v.split(',').map((x) => x.trim()))
    .refine((v) => v.length > 0 && v.every((x) => x.length > 0), 'must be a comma-separated list without empty entries');

const masterKey = z
  .string()
  .trim()
  .refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, 'must be 32 bytes in base64 (openssl rand -base64 32)');

/** Every setting Gyre reads from the environment, each with a safe default for the embedded mode. */
export const ConfigSchema = z.object({
  GYRE_PORT: z.coerce.number().int('must be a whole number').min(0).max(65535).default(8080),
  GYRE_HOST: z.string().trim().min(1).default('127.0.0.1'),
  /** The URL people reach Gyre at (behind a proxy, its https URL): OAuth callbacks and Secure cookies follow it. */
  GYRE_PUBLIC_URL: url(['http:', 'https:'], 'https://ci.example.com').optional(),
  /** Trust X-Forwarded-* from a proxy in front of Gyre (true, or a comma-separated list of proxy addresses). */
  GYRE_TRUST_PROXY: z.string().trim().optional(),
  GYRE_DATA_DIR: z.string().trim().min(1).default('./.gyre'),
  GYRE_DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://user@127.0.0.1:5432/gyre').optional(),
  GYRE_EVENTSTORE_URL: url(['esdb:', 'esdb+discover:'], 'esdb://127.0.0.1:2113?tls=false').optional(),
  GYRE_GITHUB_URL: url(['http:', 'https:'], 'https://github.example.com').default('https://github.com'),
  /**
   * Hosts besides the GitHub host that non-admins may point a project's git URL at, comma-separated:
   * `host` (at its scheme's default port) or `host:port`. An operator's setting, as the GitHub host is:
   * it says where on its network Gyre may be made to connect.
   */
  GYRE_GIT_ALLOWED_HOSTS: z
    .string()
    .trim()
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/, 'must be host names or host:port, comma-separated, as in git.example.com,git.internal:8443')))
    .default([]),
  /** The most disk one repository's mirror may take (MB, fractions allowed): a fetch past it fails and its mirror is removed. */
  GYRE_GIT_MIRROR_QUOTA_MB: z.coerce.number().positive('must be more than 0').default(2048),
  /** The most disk all repositories' mirrors may take together (MB): the least recently used are removed to make room. */
  GYRE_GIT_MIRRORS_QUOTA_MB: z.coerce.number().positive('must be more than 0').default(10240),
  /** How many repositories the server fetches at once; more triggers wait their turn. */
  GYRE_GIT_FETCH_CONCURRENCY: z.coerce.number().int('must be a whole number').min(1).max(64).default(4),
  GYRE_GITHUB_API_URL: url(['http:', 'https:'], 'https://github.example.com/api/v3').optional(),
  GYRE_GITHUB_CLIENT_ID: z.string().trim().min(1).optional(),
  GYRE_GITHUB_CLIENT_SECRET: z.string().trim().min(1).optional(),
  /** Whether private repositories are followed: sign-in then asks GitHub for the `repo` scope as well. */
  GYRE_GITHUB_PRIVATE_REPOS: z.enum(['true', 'false']).default('false'),
  GYRE_MASTER_KEY: masterKey.optional(),
  /** During a rotation: the master keys data keys may still be wrapped under, comma-separated. */
  GYRE_MASTER_KEY_PREVIOUS: z
    .string()
    .trim()
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(masterKey))
    .optional(),
  /** Where objects (job output, later artifacts and caches) are kept: `s3://bucket/prefix`; unset → `<GYRE_DATA_DIR>/objects`. */
  GYRE_OBJECT_STORE_URL: url(['s3:'], 's3://gyre-objects/ci')
    .refine((v) => {
      try {
        return new URL(v).hostname !== '';
      } catch {
        return false;
      }
    }, 'must name a bucket, as in s3://gyre-objects/ci')
    .optional(),
  /** An S3-compatible endpoint (MinIO, Ceph, …) instead of AWS's. */
  GYRE_S3_ENDPOINT: url(['http:', 'https:'], 'https://minio.example.com:9000').optional(),
  /** Address buckets as `<endpoint>/<bucket>` rather than `<bucket>.<endpoint>` (MinIO and most S3-compatible stores want true). */
  GYRE_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false'),
  GYRE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Run the agent inside the server for this machine (docker jobs when a Docker engine answers). */
  GYRE_LOCAL_AGENT: z.enum(['true', 'false']).default('true'),
  /** Let the local agent run `machine` jobs on this host, as the server's own user. */
  GYRE_LOCAL_MACHINE_JOBS: z.enum(['true', 'false']).default('false'),
  /** How long an agent may go unheard before its tasks end infrastructure_fail (ms). */
  GYRE_AGENT_LEASE_MS: z.coerce.number().int().min(500).max(3_600_000).default(30_000),
  /** A job's time limit (ms): past it the job ends timedout. */
  GYRE_JOB_TIME_LIMIT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(7 * 24 * 3_600_000)
    .default(5 * 3_600_000),
  /** How often retention looks for expired files (ms); the periods themselves are system settings. */
  GYRE_RETENTION_SWEEP_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(7 * 24 * 3_600_000)
    .default(3_600_000),
  /** How often the schedules worker looks for scheduled pipelines and scheduled workflows that are due. */
  GYRE_SCHEDULE_TICK_MS: z.coerce.number().int().min(50).max(60_000).default(10_000),
  /** Nomad's HTTP API (`http://nomad.example.com:4646`): set, Nomad places the tasks of GYRE_NOMAD_CLASSES instead of Gyre's agents. */
  GYRE_NOMAD_ADDR: url(['http:', 'https:'], 'https://nomad.example.com:4646').optional(),
  /** The ACL token Gyre sends Nomad (its secret ID); see the README for the policy it needs. */
  GYRE_NOMAD_TOKEN: z.string().trim().min(1).optional(),
  GYRE_NOMAD_NAMESPACE: z.string().trim().min(1).default('default'),
  GYRE_NOMAD_REGION: z.string().trim().min(1).optional(),
  /** The datacenters Gyre's Nomad jobs may run in, comma-separated. */
  GYRE_NOMAD_DATACENTERS: list('dc1'),
  /** PEM files for Nomad's TLS, as Nomad's own CLI names them: the CA that signed Nomad's certificate, and Gyre's client certificate and key. */
  NOMAD_CACERT: z.string().trim().min(1).optional(),
  NOMAD_CLIENT_CERT: z.string().trim().min(1).optional(),
  NOMAD_CLIENT_KEY: z.string().trim().min(1).optional(),
  /** The resource classes Nomad serves, comma-separated patterns (`docker:*`, `machine:large`); Gyre's agents serve the rest. */
  GYRE_NOMAD_CLASSES: list('docker:*'),
  /** The one-shot agent's command on Nomad's clients, and any leading arguments (space-separated): `gyre` on the client's PATH by default. */
  GYRE_NOMAD_AGENT_COMMAND: z
    .string()
    .trim()
    .min(1)
    .default('gyre')
    .transform((v) => v.split(/\s+/)),
  /** A class's CPUs to Nomad: `cores` (whole cores, Nomad's `cores`) or MHz per CPU (Nomad's `cpu`). */
  GYRE_NOMAD_CPU: z
    .string()
    .trim()
    .default('cores')
    .refine((v) => v === 'cores' || /^[1-9][0-9]*$/.test(v), 'must be cores or a number of MHz per CPU such as 2400')
    .transform((v): 'cores' | { mhzPerCpu: number } => (v === 'cores' ? 'cores' : { mhzPerCpu: Number(v) })),
  /** Gyre's jobs run only on Nomad nodes of this node class. */
  GYRE_NOMAD_NODE_CLASS: z.string().trim().min(1).optional(),
  /** Constraints by resource class, as JSON: `{"docker:large": [{"attribute": "${meta.size}", "operator": "=", "value": "large"}]}`. */
  GYRE_NOMAD_CONSTRAINTS: z
    .string()
    .trim()
    .default('{}')
    .transform((v, ctx) => {
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON such as {"docker:large": [{"attribute": "${meta.size}", "operator": "=", "value": "large"}]}' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string().min(1), z.array(z.object({ attribute: z.string().min(1), operator: z.string().min(1), value: z.string() }).strict()))),
  /** The one-shot agent's command on the VM service's images, and any leading arguments (space-separated): `gyre` on the image's PATH by default. */
  GYRE_VM_AGENT_COMMAND: z
    .string()
    .trim()
    .min(1)
    .default('gyre')
    .transform((v) => v.split(/\s+/)),
  /** The Docker engine's command and leading arguments on a REMOTE_DOCKER VM's image; Gyre adds its TLS flags and `-H tcp://0.0.0.0:2376`. */
  GYRE_VM_DOCKERD_COMMAND: z
    .string()
    .trim()
    .min(1)
    .default('dockerd')
    .transform((v) => v.split(/\s+/)),
  /** How long a VM may take from its request to its agent's registration, cloud retries included, before its job ends infrastructure_fail. */
  GYRE_VM_READY_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(600_000),
  /** A Compute Engine-compatible endpoint (`https://compute.example.com`); Google's by default. EC2's comes from the SDK's own AWS_ENDPOINT_URL_EC2. */
  GYRE_GCE_ENDPOINT: url(['http:', 'https:'], 'https://compute.googleapis.com').optional(),
  /** When set, GET /metrics answers only `Authorization: Bearer <this>`; unset, it is open, as scrape targets usually are. */
  GYRE_METRICS_TOKEN: z.string().trim().min(16, 'must be at least 16 characters (openssl rand -hex 24)').optional(),
  /** Live subscriptions open at once on one WebSocket, and for one account over all its connections. */
  GYRE_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).max(10_000).default(32),
  GYRE_SUBSCRIPTIONS_PER_USER: z.coerce.number().int().min(1).max(100_000).default(256),
  /** How long a subscriber may take to receive one event (ms) before its connection is closed rather than events kept for it. */
  GYRE_SUBSCRIPTION_SLOW_CONSUMER_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** The longest message a WebSocket may send (bytes): a subscription's document and variables. A longer one closes the connection unread (1009). */
  GYRE_SUBSCRIPTION_MAX_MESSAGE_BYTES: z.coerce.number().int('must be a whole number').min(4096).max(16_777_216).default(65_536),
  /**
   * The bytes of webhook delivery bodies held at once over all deliveries: each holds the bytes of it that have arrived, until its
   * request ends. A delivery larger than the bound is never taken, so below 25 MB (GitHub's largest) large pushes are refused
   * every time they are sent; the least, 1 MB, still takes GitHub's ordinary deliveries (and lets tests reach the bound cheaply).
   */
  GYRE_WEBHOOK_BODY_BYTES_IN_FLIGHT: z.coerce
    .number()
    .int('must be a whole number')
    .min(1_048_576, 'must be at least 1048576 (1 MB); below 26214400 (25 MB) the largest deliveries GitHub sends are refused')
    .max(17_179_869_184)
    .default(104_857_600),
  /** How long a webhook delivery's body may take to arrive once its project is found (ms); GitHub gives up on a delivery after 10 s. A slower one is refused (408) and its bytes given back. */
  GYRE_WEBHOOK_BODY_TIMEOUT_MS: z.coerce.number().int('must be a whole number').min(1000).max(600_000).default(30_000),
  /** How long a browser session lasts from sign-in (hours, fractions allowed), however it started; then the person signs in again. */
  GYRE_SESSION_MAX_AGE_HOURS: z.coerce.number().positive('must be more than 0').max(8760, 'must be at most 8760 (a year)').default(168),
  /** How long a browser session lasts unused (hours, fractions allowed): past it the person signs in again, however young the session. */
  GYRE_SESSION_IDLE_HOURS: z.coerce.number().positive('must be more than 0').max(8760, 'must be at most 8760 (a year)').default(24),
  /** How far behind the log a projection may fall (ms) before /readyz answers 503. */
  GYRE_READY_MAX_LAG_MS: z.coerce.number().int().min(0).default(30_000),
  /** The longest config Gyre processes (bytes), sent to the compile endpoint or read from a repository. */
  GYRE_CONFIG_MAX_SOURCE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(3 * 1024 * 1024),
  /** The largest processed config (bytes); CircleCI's compiled config is at most 8 MB. */
  GYRE_CONFIG_MAX_PROCESSED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(defaultConfigLimits.processedBytes),
  /** The most jobs one `matrix` may unroll to. */
  GYRE_CONFIG_MAX_MATRIX_COMBINATIONS: z.coerce.number().int().min(1).max(1_000_000).default(defaultConfigLimits.matrixCombinations),
  /** The most jobs in one workflow, matrices unrolled. */
  GYRE_CONFIG_MAX_WORKFLOW_JOBS: z.coerce.number().int().min(1).max(1_000_000).default(defaultConfigLimits.jobsPerWorkflow),
  /** The most steps a config expands to, over all its jobs. */
  GYRE_CONFIG_MAX_STEPS: z.coerce.number().int().min(1).max(10_000_000).default(defaultConfigLimits.steps),
  /** How long processing one config may take (ms), in its worker thread. */
  GYRE_CONFIG_PROCESSING_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** The heap of a config processing's worker thread (MB). */
  GYRE_CONFIG_PROCESSING_MEMORY_MB: z.coerce.number().int().min(32).max(16_384).default(256),
  /** Configs that may wait for a processing thread at once; past them a config is refused at once (503). */
  GYRE_CONFIG_PROCESSING_QUEUE: z.coerce.number().int().min(0).max(10_000).default(32),
  /** Worker threads processing configs; unset: half the cores, at least 2. */
  GYRE_CONFIG_PROCESSING_THREADS: z.coerce.number().int('must be a whole number').min(1).max(256).optional(),
  /** Refused requests of one source (a user, or an address when no one signed in) recorded in full each minute; the rest make one summary event. */
  GYRE_AUDIT_REFUSALS_PER_SOURCE: z.coerce.number().int('must be a whole number').min(1).max(100_000).default(10),
  /** Refused requests recorded in full each minute over all sources. */
  GYRE_AUDIT_REFUSALS_PER_MINUTE: z.coerce.number().int('must be a whole number').min(1).max(1_000_000).default(100),
  /** GraphQL documents are refused before they run past any of these (see the README's Limits): lexical tokens in a document, */
  GYRE_GRAPHQL_MAX_TOKENS: z.coerce.number().int('must be a whole number').min(100).max(1_000_000).default(10_000),
  /** … fields nested in one another, */
  GYRE_GRAPHQL_MAX_DEPTH: z.coerce.number().int('must be a whole number').min(3).max(100).default(15),
  /** … aliases in one operation, */
  GYRE_GRAPHQL_MAX_ALIASES: z.coerce.number().int('must be a whole number').min(0).max(10_000).default(30),
  /** … root fields in one operation, */
  GYRE_GRAPHQL_MAX_ROOT_FIELDS: z.coerce.number().int('must be a whole number').min(1).max(10_000).default(20),
  /** … and the estimated cost: every field counts 1, times the page size (`first`) of each list it is inside. */
  GYRE_GRAPHQL_MAX_COST: z.coerce.number().int('must be a whole number').min(100).max(100_000_000).default(50_000),
});
export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Reads the configuration; a wrong value stops start-up with a message that names the variable (never its value). */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  const present = Object.fromEntries(Object.keys(ConfigSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]])));
  const result = ConfigSchema.safeParse(present);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
};

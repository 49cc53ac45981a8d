/** Clients for the HTTP benchmarks: GraphQL over keep-alive connections, and closed loops that time each request. */
import { Agent, request } from 'node:http';
import { spread } from './support.ts';

export interface GraphQLAnswer {
  readonly data?: Record<string, any> | null;
  readonly errors?: ReadonlyArray<{ message: string; extensions?: { code?: string } }>;
}

/** A GraphQL client over `sockets` kept-alive connections to `url`/graphql, sending `headers` with each request. */
export const graphqlClient = (url: string, headers: Record<string, string>, sockets: number) => {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(url);
  const post = (query: string, variables: Record<string, unknown> = {}) =>
    new Promise<GraphQLAnswer>((resolve, reject) => {
      const payload = JSON.stringify({ query, variables });
      const req = request(
        {
          agent,
          hostname,
          port,
          path: '/graphql',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as GraphQLAnswer);
            } catch (e) {
              reject(new Error(`HTTP ${res.statusCode}: not JSON (${String(e)})`));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return {
    post,
    /** The answer's data; a GraphQL error throws. */
    async data(query: string, variables: Record<string, unknown> = {}) {
      const answer = await post(query, variables);
      if (answer.errors?.length) throw new Error(`GraphQL answered ${JSON.stringify(answer.errors)}`);
      return answer.data!;
    },
    close: () => agent.destroy(),
  };
};

/** Runs `op` from `clients` loops, each starting its next request when the last answered, for `seconds`: requests/s and latency. */
export const closedLoop = async (clients: number, seconds: number, op: () => Promise<unknown>) => {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const ms = performance.now() - started;
  return { count: latencies.length, perSecond: Math.round((latencies.length / ms) * 1000), ...spread(latencies) };
};

/** Runs `op` `count` times, one after another: each one's latency. */
export const oneByOne = async (count: number, op: (i: number) => Promise<unknown>) => {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await op(i);
    latencies.push(performance.now() - t);
  }
  return spread(latencies);
};

/** `a / b` to two significant digits. */
export const ratio = (a: number, b: number) => Number((a / b).toPrecision(2));

import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

/** `/healthz`: the process answers. `/readyz`: the database answers and no projection lags too far. */
export const registerHealth = (app: FastifyInstance, s: Services) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    // the database, then the log's head, within one bound: an outage answers 503 at once and never hangs
    const head = await Promise.race([
      s.db
        .raw('select 1')
        .then(() => s.store.head())
        .catch(() => null),
      new Promise<null>((r) => setTimeout(() => r(null), 2000).unref()),
    ]);
    if (head === null) return reply.status(503).send({ status: 'unready', reason: 'the database does not answer' });
    const projections = s.projections.status(head);
    const lagging = projections.filter((p) => p.error || p.lagMs > s.config.GYRE_READY_MAX_LAG_MS);
    const summary = projections.map(({ name, version, caughtUp, lagMs, error }) => ({
      name,
      version,
      caughtUp,
      lagMs: Number.isFinite(lagMs) ? lagMs : null,
      failing: error !== null,
    }));
    if (lagging.length) {
      const behind = (lagMs: number) =>
        Number.isFinite(lagMs) ? `is ${Math.round(lagMs / 1000)}s behind the log` : 'has not caught up with the log since start';
      // the error itself goes to the server log, not to an anonymous caller
      const reason = lagging
        .map((p) => (p.error ? `projection ${p.name} is failing (see the server log)` : `projection ${p.name} ${behind(p.lagMs)}`))
        .join('; ');
      return reply.status(503).send({ status: 'unready', reason, projections: summary });
    }
    return { status: 'ready', projections: summary };
  });
};

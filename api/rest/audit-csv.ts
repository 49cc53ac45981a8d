import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../domain/errors.ts';
import { auditCsvPages } from '../../projections/audit-log.ts';
import { parseAuditQuery } from '../../application/audit-query.ts';
import { commandContext, requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';

const allowed = new Set(['since', 'until', 'action']);

/**
 * `GET /admin/audit-log.csv?since=&until=&action=`: the guide's columns, oldest first, RFC 4180,
 * streamed one keyset page at a time so that memory stays flat however long the log is.
 */
export const registerAuditCsv = (app: FastifyInstance, s: Services) => {
  app.get('/admin/audit-log.csv', async (req, reply) => {
    const params = req.query as Record<string, string | string[] | undefined>;
    const unknown = Object.keys(params).filter((k) => !allowed.has(k));
    if (unknown.length) throw new ValidationError(`unknown audit log filter ${unknown.map((k) => `"${k}"`).join(', ')}: use since, until and action`);
    const single = (k: string) => {
      const v = params[k];
      if (Array.isArray(v)) throw new ValidationError(`${k} may be given once`);
      return v === '' ? undefined : v;
    };
    const actions = params.action === undefined ? [] : ([] as string[]).concat(params.action);
    const query = parseAuditQuery({ since: single('since'), until: single('until'), actions });
    const exported = await s.commands.record(
      'audit-exports',
      { type: 'audit_log.export', data: { since: query.since ?? null, until: query.until ?? null, actions } },
      { context: commandContext(req.auth, requestInfo(req)), target: { id: 'audit-log', type: 'audit_log', name: 'Audit Log' } },
    );
    // the export covers the log up to and including its own export event
    await s.readYourWrites({ position: exported.position, events: [exported] });
    // one page in flight: the next is read only when the client has taken this one
    const body = Readable.from(auditCsvPages(s.db, query), { objectMode: false, highWaterMark: 1 });
    reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="audit-log.csv"');
    return reply.send(body);
  });
};

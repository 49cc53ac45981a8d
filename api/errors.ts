import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GyreError } from '../domain/errors.ts';

/** The errors a caller caused: these are refusals, and the audit log records them. */
export const isRefusal = (e: unknown): e is GyreError => e instanceof GyreError && e.status >= 400 && e.status < 500 && e.status !== 404;

/** One mapping from errors to HTTP: a JSON body `{message}` always, never an internal detail. */
export const httpError = (error: unknown, req: FastifyRequest, reply: FastifyReply) => {
  if (error instanceof GyreError) return reply.status(error.status).send({ message: error.message, code: error.code });
  const fe = error as FastifyError;
  if (fe.statusCode && fe.statusCode < 500) return reply.status(fe.statusCode).send({ message: fe.message, code: fe.code ?? 'BAD_REQUEST' });
  req.log.error({ err: error }, 'request failed');
  return reply.status(500).send({ message: 'internal error: see the server log', code: 'INTERNAL' });
};

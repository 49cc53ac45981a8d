import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GyreError, ValidationError } from '../domain/errors.ts';

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

/**
 * Fastify's own 4xx errors (a body that is not JSON, too large, of another type) as typed errors, so
 * they are audited like any bad input; their messages never quote the body, which may hold a secret.
 */
export const requestError = (e: unknown): unknown => {
  const fe = e as FastifyError | undefined;
  if (e instanceof GyreError || !fe?.statusCode || fe.statusCode >= 500) return e;
  if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e instanceof SyntaxError)
    return new ValidationError('the request body is not valid JSON');
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new GyreError('the request body is too large', 'BODY_TOO_LARGE', 413);
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new GyreError('send the request body as application/json', 'UNSUPPORTED_MEDIA_TYPE', 415);
  return e;
};

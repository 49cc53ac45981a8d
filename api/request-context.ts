import type { FastifyRequest } from 'fastify';
import type { CommandContext, RequestInfo } from '../domain/events/envelope.ts';
import { actorOf, type Auth } from './auth/authenticate.ts';

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth;
  }
}

/** `X-Client-Trace-Id` travels into every event the request causes (bounded, printable). */
export const requestInfo = (req: Pick<FastifyRequest, 'id' | 'ip' | 'headers'>): RequestInfo => {
  const raw = req.headers['x-client-trace-id'];
  const trace = (Array.isArray(raw) ? raw[0] : raw)?.replace(/[^\x20-\x7e]/g, '').slice(0, 200) || null;
  return { id: String(req.id), ip_address: req.ip ?? null, client_trace_id: trace };
};

export const commandContext = (auth: Auth, request: RequestInfo): CommandContext => ({ actor: actorOf(auth), request });

/** The audit envelope's actor and request for the commands an HTTP request runs. */
export const requestCommandContext = (req: FastifyRequest): CommandContext => commandContext(req.auth, requestInfo(req));

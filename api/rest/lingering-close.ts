import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';

/** How long a connection ended with its request's body unread keeps reading (and dropping) what is still sent. */
const LINGER_MS = 2000;

/**
 * Ends the connection after this answer, though the request's body is still arriving, without losing
 * the answer. Node closes such a socket as soon as the answer is written; the kernel then answers the
 * bytes still arriving with a reset, and a reset makes the sender's kernel drop what it received and
 * had not yet read: the answer. A lingering close (as Apache's and nginx's) ends only the sending
 * side, reads and drops what arrives until the sender stops or a bound passes, and then closes.
 */
export const closeAfterAnswer = (reply: FastifyReply): void => {
  reply.header('connection', 'close');
  const socket = reply.raw.socket;
  if (!socket) return;
  socket.destroySoon = function lingeringClose(this: Socket) {
    this.end();
    const bound = setTimeout(() => this.destroy(), LINGER_MS);
    bound.unref();
    this.once('close', () => clearTimeout(bound));
    if (this.readableEnded) this.destroy();
    else this.once('end', () => this.destroy());
    this.resume();
  };
};

import { connect } from 'node:net';
import fastify, { type FastifyInstance } from 'fastify';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeAfterAnswer } from './lingering-close.ts';

const test = suite('api/rest/lingering-close: an answer given before the body is read reaches its sender');

const BODY_BYTES = 16 * 1024 * 1024;
let app: FastifyInstance;
let port: number;

test.before(async () => {
  app = fastify();
  // refused before its body is read, as a webhook delivery addressed to no project is
  app.addHook('onRequest', async (_req, reply) => {
    closeAfterAnswer(reply);
    return reply.code(401).send({ code: 'REFUSED' });
  });
  app.post('/', async () => 'unreachable');
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
test.after(async () => app.close());

/**
 * Posts a large body over a plain socket and reads the answer once the whole body is sent, as a
 * sender busy sending does: what arrived before the connection ended, or how it failed.
 */
const post = () =>
  new Promise<{ received: string; error?: string }>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.pause();
    socket.on('data', (c: string) => {
      received += c;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve({ received, error: e.code }));
    socket.on('close', () => resolve({ received }));
    socket.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`);
    socket.end(Buffer.alloc(BODY_BYTES, ' '), () => socket.resume());
  });

test('senders of 16 MB that read only once they have sent it all get the whole answer, and the connection ends', async () => {
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push(await post());
  const lost = outcomes.filter((o) => !o.received.includes('{"code":"REFUSED"}'));
  assert.is(lost.length, 0, `answers lost: ${lost.map((o) => o.error ?? 'closed').join(', ')}`);
  for (const o of outcomes) assert.match(o.received, /^HTTP\/1\.1 401 .*connection: close/is);
});

test('a sender that never stops sending is cut off once the linger is over', async () => {
  // one that goes on sending after the answer's end of stream (Node's sockets stop by themselves)
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let received = '';
  socket.setEncoding('latin1');
  let answeredAt = 0;
  socket.on('data', (c: string) => {
    received += c;
    answeredAt ||= performance.now();
  });
  socket.on('error', () => undefined);
  const chunk = `${(64 * 1024).toString(16)}\r\n${' '.repeat(64 * 1024)}\r\n`;
  const send = () => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on('drain', send);
  const closed = new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error('the connection was still open 6 s after the answer'));
    }, 6000);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(performance.now());
    });
  });
  socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
  send();
  const at = await closed;
  assert.match(received, /^HTTP\/1\.1 401 /);
  assert.ok(at - answeredAt < 4000, `cut off ${Math.round(at - answeredAt)} ms after the answer`);
});

test.run();

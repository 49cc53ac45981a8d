import type { Readable } from 'node:stream';
import { ValidationError } from '../../domain/errors.ts';

/**
 * The lines of a newline-delimited JSON body, each parsed, as they arrive: a body of any length is
 * read with one line in memory at most, and a line longer than `maxLineBytes` is refused.
 */
export async function* ndjsonLines(body: Readable, maxLineBytes: number): AsyncGenerator<unknown> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  const parse = (bytes: Buffer): unknown => {
    line++;
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ValidationError(`line ${line} of the body is not JSON`);
    }
  };
  for await (const raw of body) {
    let chunk = Buffer.from(raw as Buffer);
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a)) {
      const whole = Buffer.concat([...pending, chunk.subarray(0, nl)]);
      pending = [];
      pendingBytes = 0;
      chunk = chunk.subarray(nl + 1);
      if (whole.length > maxLineBytes) throw new ValidationError(`line ${line + 1} of the body is longer than ${maxLineBytes} bytes`);
      if (whole.length) yield parse(whole);
    }
    pendingBytes += chunk.length;
    if (pendingBytes > maxLineBytes) throw new ValidationError(`line ${line + 1} of the body is longer than ${maxLineBytes} bytes`);
    if (chunk.length) pending.push(chunk);
  }
  if (pendingBytes) yield parse(Buffer.concat(pending));
}

import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits; the prefix lets secret scanners recognise a leaked token. */
export const generateToken = (): string => `gyre_${randomBytes(32).toString('base64url')}`;

/** Tokens carry full entropy, so one SHA-256 is the right hash: nothing to brute-force. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

import { z } from 'zod';

/**
 * What an event may hold of a secret: the ciphertext the vault sealed (never the value) and the
 * masked form every API shows. Sealed values start with this prefix, so a schema can tell a clear
 * value that slipped in from a sealed one.
 */
export const sealedPrefix = 'gyre:aes-256-gcm:';
export const Sealed = z.string().regex(/^gyre:aes-256-gcm:[A-Za-z0-9+/]+={0,2}$/, 'must be a value sealed by the vault');

/**
 * CircleCI's mask: `xxxx` and the last four characters. Values of four characters or fewer show
 * `xxxx` alone, so the mask (which events keep) never holds a whole value.
 */
export const mask = (value: string): string => (value.length <= 4 ? 'xxxx' : `xxxx${value.slice(-4)}`);

export const SealedSecret = z.object({ sealed: Sealed, masked: z.string().regex(/^xxxx[\s\S]{0,4}$/) });
export type SealedSecret = z.infer<typeof SealedSecret>;

/** An environment variable's name, as a POSIX shell takes it. */
export const EnvVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a shell variable name: letters, digits and _, not starting with a digit')
  .max(256, 'must be at most 256 characters');

/** An environment variable's value: any text a process environment can carry. */
export const EnvVarValue = z
  .string()
  .max(65_536, 'must be at most 64 KiB')
  .refine((v) => !v.includes('\0'), 'must not contain a NUL character');

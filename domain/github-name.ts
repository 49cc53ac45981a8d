import { z } from 'zod';

/** A GitHub user or organization name: letters, digits and single inner hyphens, at most 39 characters. */
export const GitHubName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/, 'must be a GitHub name (letters, digits, single hyphens)');

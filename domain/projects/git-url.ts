import { z } from 'zod';

const scpLike = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/;
const schemes = ['https:', 'http:', 'ssh:', 'git:', 'file:'];

/**
 * Where a project's code is cloned from: any URL `git` can clone (https, ssh, git, file, the scp-like
 * `git@host:org/repo.git`) or an absolute local path, so the embedded default works without GitHub.
 * Credentials never belong in it: they would be shown to everyone who can see the project.
 */
export const GitUrl = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(2048, 'must be at most 2048 characters')
  // a backslash is a slash to a URL parser and part of the user name to git: the host each sees would differ
  .refine((v) => !/[\s\0-\x1f\\]/.test(v), 'must not contain spaces, backslashes or control characters')
  .superRefine((v, ctx) => {
    if (v.startsWith('/') || scpLike.test(v)) return;
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a URL git can clone (https://, ssh://, git://, file://, git@host:path) or an absolute path' });
      return;
    }
    if (!schemes.includes(url.protocol)) ctx.addIssue({ code: 'custom', message: `must use one of ${schemes.map((s) => s.replace(':', '')).join(', ')}` });
    // over http(s) a user name is as good as a password (GitHub takes a token there), and so is a query
    else if (url.password || (url.protocol.startsWith('http') && (url.username || url.search || url.hash))) {
      ctx.addIssue({ code: 'custom', message: 'must not contain a password, token or query: keep credentials in a context or project environment variable' });
    }
  });

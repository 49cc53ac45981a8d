/**
 * Each command's module, loaded only when that command runs, so `gyre agent` on a build machine
 * never loads the server. (In a module of its own: tsx cannot transform a dynamic import in a file
 * that starts with a shebang, as gyre.ts does.)
 */
export const loadServer = () => import('../api/app.ts');
export const loadAgent = () => import('../workers/agent/main.ts');
export const loadEvents = () => import('./events.ts');

import { z } from 'zod';
import { defineEvent } from '../events/registry.ts';

/** An export of the audit log is itself audited: who took a copy, and of what. */
export const auditLogExported = defineEvent(
  'audit_log.export',
  z.object({ since: z.string().nullable(), until: z.string().nullable(), actions: z.array(z.string()) }),
  { publicFields: ['since', 'until', 'actions'] },
);

/**
 * Reads are not recorded when they succeed; these actions name them when they are refused.
 * Their data schema is empty because a refused event carries RefusalData instead.
 */
const readOnly = z.object({}).strict();
export const auditLogRead = defineEvent('audit_log.read', readOnly);
export const auditLogSubscribe = defineEvent('audit_log.subscribe', readOnly);
export const settingsRead = defineEvent('system.settings.read', readOnly);
export const userRead = defineEvent('user.read', readOnly);
export const projectRead = defineEvent('project.read', readOnly);
export const contextRead = defineEvent('context.read', readOnly);
export const orbRead = defineEvent('orb.read', readOnly);
export const runnerRead = defineEvent('runner.read', readOnly);
export const vmServiceRead = defineEvent('vm_service.read', readOnly);
export const configCompile = defineEvent('config.compile', readOnly);
export const pipelineRead = defineEvent('pipeline.read', readOnly);
/** An agent looking up or reading a project's caches, or the workspace layers its job attaches. */
export const cacheRead = defineEvent('cache.read', readOnly);
export const workspaceRead = defineEvent('job.workspace.read', readOnly);
/** A GraphQL document that does not parse, so no operation can be named. */
export const graphqlDocumentReject = defineEvent('graphql.document.reject', readOnly);

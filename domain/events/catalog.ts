import {
  auditLogExported,
  auditLogRead,
  auditLogSubscribe,
  cacheRead,
  configCompile,
  contextRead,
  pipelineRead,
  graphqlDocumentReject,
  orbRead,
  projectRead,
  runnerRead,
  vmServiceRead,
  settingsRead,
  userRead,
  workspaceRead,
} from '../audit/audit-events.ts';
import { contextEvents } from '../contexts/context.ts';
import { orbEvents } from '../orbs/orb.ts';
import { pipelineEvents } from '../pipelines/pipeline.ts';
import { workflowEvents } from '../pipelines/workflow.ts';
import { pullRequestEvents, revisionBuildEvents } from '../pipelines/pull-request.ts';
import { webhookDeliveryEvents } from '../pipelines/webhook-delivery.ts';
import { agentEvents } from '../agents/agent.ts';
import { placementEvents } from '../nomad/placement.ts';
import { vmInstanceEvents } from '../vm/instance.ts';
import { vmServiceEvents } from '../vm/service.ts';
import { cacheEvents } from '../files/cache.ts';
import { jobEvents } from '../jobs/job.ts';
import { projectEvents } from '../projects/project.ts';
import { runnerEvents } from '../runners/resource-class.ts';
import { scheduleEvents } from '../schedules/schedule.ts';
import { scheduledWorkflowArmed, scheduledWorkflowTriggered } from '../schedules/scheduled-workflows.ts';
import { masterKeyRotated } from '../secrets/master-key.ts';
import { projectionsRead, projectionsRebuildRequested } from '../system/projection-rebuilds.ts';
import { eventLogCopied } from '../system/event-log.ts';
import { settingsUpdated } from '../system/settings.ts';
import { accountEvents } from '../users/accounts.ts';
import { githubIdentityEvents } from '../users/github-identity.ts';
import { rosterEvents } from '../users/roster.ts';
import { loggedIn, loggedOut, membershipsRefreshed } from '../users/sessions.ts';
import { refusalsSummarized } from '../audit/refusal.ts';
import { createRegistry } from './registry.ts';

/** Every event type Gyre knows: the one registry. An event not listed here is never appended. */
export const eventRegistry = createRegistry([
  settingsUpdated,
  eventLogCopied,
  settingsRead,
  ...accountEvents,
  ...rosterEvents,
  ...githubIdentityEvents,
  loggedIn,
  loggedOut,
  membershipsRefreshed,
  userRead,
  projectRead,
  contextRead,
  orbRead,
  runnerRead,
  vmServiceRead,
  configCompile,
  pipelineRead,
  cacheRead,
  workspaceRead,
  auditLogExported,
  auditLogRead,
  auditLogSubscribe,
  graphqlDocumentReject,
  refusalsSummarized,
  ...projectEvents,
  ...contextEvents,
  masterKeyRotated,
  projectionsRebuildRequested,
  projectionsRead,
  ...orbEvents,
  ...pipelineEvents,
  ...workflowEvents,
  ...pullRequestEvents,
  ...revisionBuildEvents,
  ...webhookDeliveryEvents,
  ...jobEvents,
  ...cacheEvents,
  ...agentEvents,
  ...placementEvents,
  ...vmServiceEvents,
  ...vmInstanceEvents,
  ...runnerEvents,
  ...scheduleEvents,
  scheduledWorkflowTriggered,
  scheduledWorkflowArmed,
]);

import { auditLogProjection } from './audit-log.ts';
import { contextsProjection } from './contexts.ts';
import { filesProjection } from './files.ts';
import { jobsProjection } from './jobs.ts';
import { membershipsProjection } from './memberships.ts';
import { orbsProjection } from './orbs.ts';
import { pipelinesProjection } from './pipelines.ts';
import type { Projection } from './projection.ts';
import { projectsProjection } from './projects.ts';
import { projectFollowsProjection } from './project-follows.ts';
import { pullRequestsProjection } from './pull-requests.ts';
import { runnersProjection } from './runners.ts';
import { nomadProjection } from './nomad.ts';
import { vmProjection } from './vm.ts';
import { schedulesProjection } from './schedules.ts';
import { systemSettingsProjection } from './system-settings.ts';
import { usersProjection } from './users.ts';

/** Every read model Gyre keeps. */
export const allProjections: ReadonlyArray<Projection> = [
  auditLogProjection,
  systemSettingsProjection,
  usersProjection,
  membershipsProjection,
  projectsProjection,
  contextsProjection,
  orbsProjection,
  pipelinesProjection,
  pullRequestsProjection,
  runnersProjection,
  nomadProjection,
  vmProjection,
  jobsProjection,
  filesProjection,
  projectFollowsProjection,
  schedulesProjection,
];

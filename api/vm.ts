import { createEc2Cloud } from '../adapters/vm/ec2.ts';
import { createGceCloud } from '../adapters/vm/gce.ts';
import type { VmCloud } from '../adapters/vm/port.ts';
import type { VmService } from '../domain/vm/service.ts';
import type { Config } from './config.ts';

/**
 * The cloud client of the VM service's configuration: EC2 (its endpoint from the SDK's own
 * AWS_ENDPOINT_URL_EC2) or Compute Engine (GYRE_GCE_ENDPOINT), with the opened credentials, or the
 * default credentials of the machine Gyre runs on when there are none.
 */
export const vmCloudFor =
  (config: Config) =>
  (service: VmService, credentials: string | null): VmCloud => {
    const { settings } = service;
    if (settings.provider === 'AWS') {
      const aws = settings.aws!;
      const keys = credentials ? (JSON.parse(credentials) as { accessKeyId: string; secretAccessKey: string }) : undefined;
      return createEc2Cloud({ region: aws.region, subnetId: aws.subnetId, securityGroupId: aws.securityGroupId, ...(keys ? { credentials: keys } : {}) });
    }
    const gcp = settings.gcp!;
    return createGceCloud({
      projectId: gcp.projectId,
      zone: gcp.zone,
      network: gcp.network,
      ...(gcp.subnetwork ? { subnetwork: gcp.subnetwork } : {}),
      ...(credentials ? { serviceAccountJson: credentials } : {}),
      ...(config.GYRE_GCE_ENDPOINT ? { endpoint: config.GYRE_GCE_ENDPOINT } : {}),
    });
  };

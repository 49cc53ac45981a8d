import { GyreError } from '../../domain/errors.ts';

/** An IAM user's access keys, as an image's `aws_auth` gives them (already taken from the job's environment). */
export interface AwsAccessKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What `docker login` takes. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Amazon ECR, as far as pulling an image needs it. */
export interface Ecr {
  /** Credentials for the registry of `image` (GetAuthorizationToken in the image's region), valid for about 12 hours. */
  registryCredentials(image: string, keys: AwsAccessKeys): Promise<RegistryCredentials>;
}

/** ECR gave no credentials: wrong or inactive keys, no `ecr:GetAuthorizationToken` permission, ECR out of reach. Never holds the secret key. */
export class EcrAuthError extends GyreError {
  constructor(
    readonly image: string,
    reason: string,
  ) {
    super(
      `Amazon ECR gave no credentials to pull ${image}: ${reason}; check the image's aws_auth (aws_access_key_id and aws_secret_access_key, and that their user may call ecr:GetAuthorizationToken)`,
      'ECR_AUTH_FAILED',
      502,
    );
  }
}

/** `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/repo:tag` → the region; null for any other host. */
export const ecrRegionOf = (image: string): string | null => {
  if (!image.includes('/')) return null;
  const host = image.slice(0, image.indexOf('/')).toLowerCase();
  return /^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host)?.[1] ?? null;
};

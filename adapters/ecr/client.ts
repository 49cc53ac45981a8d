import { EcrAuthError, ecrRegionOf, type Ecr } from './port.ts';

export interface EcrClientOptions {
  /**
   * Where GetAuthorizationToken goes instead of ECR's endpoint in the region (a VPC endpoint; a
   * stand-in in tests). Without it the SDK's own settings apply: AWS_ENDPOINT_URL_ECR,
   * AWS_ENDPOINT_URL, `endpoint_url` in the shared config file.
   */
  readonly endpoint?: string;
  /** The region of images whose host names none (a private DNS name for a registry); `<account>.dkr.ecr.<region>.amazonaws.com` names its own. */
  readonly region?: string;
}

/** Amazon ECR through the AWS SDK: one client per call, since every job brings its own keys. */
export const createEcr = (options: EcrClientOptions = {}): Ecr => ({
  async registryCredentials(image, keys) {
    const scrub = (text: string) => (keys.secretAccessKey ? text.split(keys.secretAccessKey).join('***') : text);
    if (!keys.accessKeyId || !keys.secretAccessKey)
      throw new EcrAuthError(
        image,
        `aws_auth has an empty ${keys.accessKeyId ? 'aws_secret_access_key' : 'aws_access_key_id'} (is the variable it names set in the project or one of the job's contexts?)`,
      );
    const region = ecrRegionOf(image) ?? options.region;
    if (!region) throw new EcrAuthError(image, 'its host is not <account>.dkr.ecr.<region>.amazonaws.com, so the region to ask is unknown');
    // loaded on first use: the SDK costs some 16 MB of memory, and most installations never pull from ECR
    const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
    const client = new ECRClient({
      region,
      credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000 },
    });
    try {
      const answer = await client.send(new GetAuthorizationTokenCommand({}));
      const token = answer.authorizationData?.[0]?.authorizationToken;
      if (!token) throw new EcrAuthError(image, 'its answer held no authorization token');
      // the token is base64 of `user:password`; the user is AWS
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw new EcrAuthError(image, 'its authorization token is not user:password in base64');
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    } catch (e) {
      if (e instanceof EcrAuthError) throw e;
      const named = e as { name?: string; message?: string };
      throw new EcrAuthError(
        image,
        scrub(`${named.name && named.name !== 'Error' ? `${named.name}: ` : ''}${named.message ?? String(e)} (GetAuthorizationToken in ${region})`),
      );
    } finally {
      client.destroy();
    }
  },
});

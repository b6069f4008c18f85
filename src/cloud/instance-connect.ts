/** EC2 Instance Connect: an ephemeral public key pushed to a running instance for one ssh login. */
import './quiet-sdk.js';
import {
  EC2InstanceConnectClient,
  SendSSHPublicKeyCommand,
  type EC2InstanceConnectClientConfig,
} from '@aws-sdk/client-ec2-instance-connect';
import { retrying } from './consistency.js';
import { aws, errorCode } from './errors.js';
import type { Cloud } from './port.js';

/**
 * The port's pushSshKey, made with `config` (the EC2 client's, its credentials included); its
 * client is made on first use.
 */
export function instanceConnect(config: EC2InstanceConnectClientConfig): Cloud['pushSshKey'] {
  let connect: EC2InstanceConnectClient | undefined;
  return async ({ instanceId, osUser, publicKey, az }, bounds) => {
    connect ??= new EC2InstanceConnectClient(config);
    const client = connect;
    // Just after `running`, Instance Connect may still find the instance "not in a valid state"
    // (its services are starting): tried again for a bounded time. Only keys for running
    // instances are pushed, so that answer means "not yet".
    await aws('push the ssh key with EC2 Instance Connect', () =>
      retrying(
        () =>
          client.send(
            new SendSSHPublicKeyCommand({
              InstanceId: instanceId,
              InstanceOSUser: osUser,
              SSHPublicKey: publicKey,
              AvailabilityZone: az,
            }),
          ),
        (err) => errorCode(err) === 'EC2InstanceStateInvalidException',
        // Ready within a moment of `running`, when ssh may already answer: asked again soon.
        { ...bounds, firstDelayMs: 100, maxDelayMs: 1000 },
      ),
    );
  };
}

/** --docker and --docker-args: the command runs in a container on the instance (remote/docker.ts). */
import { dockerArgs, imageReference } from '../remote/docker.js';
import { spec } from './spec.js';

export const CONTAINER_OPTIONS = {
  docker: spec({
    kind: 'string',
    flag: 'docker',
    env: ['SSH_EC2_DOCKER'],
    group: 'Session',
    default: undefined as string | undefined,
    parse: imageReference,
    describe:
      'run the command (or the shell) in this container image on the instance: its GPUs, the project directory mounted at the same path as working directory, your uid, the exit status passed through',
  }),
  dockerArgs: spec({
    kind: 'string',
    flag: 'docker-args',
    env: ['SSH_EC2_DOCKER_ARGS'],
    group: 'Session',
    default: [] as string[],
    defaultText: 'none',
    parse: dockerArgs,
    describe:
      'extra docker run arguments with --docker, split into words as a shell would, no expansion (e.g. "--shm-size=8g -e SEED=3")',
  }),
} as const;

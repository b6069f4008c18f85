import { WIRING, type Command } from '../types.js';

/**
 * The ProxyCommand of every alias (state/aliases.ts): not for people, so not in the help. Its
 * stdin and stdout are ssh's connection; everything it says goes to stderr.
 */
export const proxyConnect: Command = {
  name: 'proxy-connect',
  usage: ['proxy-connect INSTANCE-ID'],
  summary: 'internal: the ProxyCommand of an ssh alias',
  settings: [...WIRING, 'capacityTimeout', 'instanceTypes'],
  hidden: true,
  // ssh runs it in whatever directory ssh was started in: another project's settings are not this alias's.
  noProjectSettings: true,
  load: () => import('./index.js'),
};

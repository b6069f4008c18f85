/**
 * Imported, before anything else, by every module here that makes an AWS SDK client (a unit test
 * checks it). The SDK warns on stderr, at the first client of a run, under a Node it will stop
 * supporting (Node 20 from 2027): a run's user can do nothing about that, and the Node versions
 * ssh-ec2 supports are declared in package.json. A user who sets the variable keeps their value.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export {};

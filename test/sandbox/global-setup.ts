// vitest globalSetup: runs once per test run, before any worker starts a sandbox.
import { ensurePrerequisites } from './prerequisites.js';
import { reapStaleSandboxes } from './reaper.js';

export default async function setup(): Promise<void> {
  await ensurePrerequisites();
  await reapStaleSandboxes();
}

// The names and numbers the TypeScript side and the scripts on the instance both rely on: declared
// once per side (src/remote/instance-contract.ts, the top of src/agent/lib.sh) and equal.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as contract from '../../src/remote/instance-contract.js';
import { BOOT_LIMIT_SCRIPT, VOLUME_SCRIPT, prepareScript } from '../../src/remote/on-instance.js';

const AGENT_DIR = new URL('../../src/agent/', import.meta.url);
const script = (name: string) => readFileSync(new URL(name, AGENT_DIR), 'utf8');

/** lib.sh's contract section: its NAME=value lines up to the next section's rule. */
function shContract(): Record<string, string> {
  const lib = script('lib.sh');
  const start = lib.indexOf('# The contract with the TypeScript side');
  expect(start).toBeGreaterThan(0);
  const section = lib.slice(start).split(/\n# -{20,}\n/)[0]!;
  const values: Record<string, string> = {};
  for (const line of section.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([A-Z][A-Z0-9_]*)=([^\s'"$`\\]+)$/.exec(line);
    if (!m) throw new Error(`lib.sh's contract has a line that is not a plain NAME=value: ${line}`);
    values[m[1]!] = m[2]!;
  }
  return values;
}

describe('the instance contract', () => {
  const { INSTANCE_SCRIPTS, ...values } = contract;

  it('declares the same names with the same values on both sides', () => {
    const ts = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)]));
    expect(shContract()).toEqual(ts);
  });

  it('exit statuses are what a shell exit can carry, apart from the shell own ones', () => {
    for (const status of [contract.JOB_RUNNING_STATUS, contract.MUX_MISSING_STATUS]) {
      expect(status).toBeGreaterThan(2);
      expect(status).toBeLessThan(126);
    }
    expect(contract.JOB_RUNNING_STATUS).not.toBe(contract.MUX_MISSING_STATUS);
  });

  it('the scripts use the declared values, not literals of their own', () => {
    for (const name of [...INSTANCE_SCRIPTS.filter((n) => n !== 'lib.sh'), BOOT_LIMIT_SCRIPT]) {
      const text = script(name);
      expect(text, name).not.toContain(contract.JOB_LOG);
      expect(text, name).not.toMatch(new RegExp(`exit ${contract.JOB_RUNNING_STATUS}\\b`));
      expect(text, name).not.toMatch(new RegExp(`exit ${contract.MUX_MISSING_STATUS}\\b`));
      expect(text, name).not.toMatch(/^\s*reason=[a-z]/m);
    }
  });

  it('installs every script of src/agent but the boot-time limit (user data) and the volume step (fed to sh), each after the ones it sources', () => {
    const onDisk = readdirSync(AGENT_DIR).filter((n) => n.endsWith('.sh'));
    expect([...INSTANCE_SCRIPTS, BOOT_LIMIT_SCRIPT, VOLUME_SCRIPT].sort()).toEqual(onDisk.sort());
    for (const [i, name] of INSTANCE_SCRIPTS.entries()) {
      const sourced = [...script(name).matchAll(/^\. "\$\(dirname "\$0"\)\/([\w.-]+)"$/gm)].map((m) => m[1]!);
      for (const lib of sourced)
        expect(INSTANCE_SCRIPTS.indexOf(lib as never), `${name} sources ${lib}`).toBeLessThan(i);
    }
    const prepare = prepareScript({
      instanceId: 'i-1',
      imdsUrl: 'http://169.254.169.254',
      poweroffCommand: 'true',
      idleTimeout: 0,
      deadline: 0,
      jobGrace: 0,
      maxTime: 0,
    });
    // Each to a new file of this writer's own ($$), renamed over: two runs preparing at once share none.
    const installed = [...prepare.matchAll(/^cat > ([\w.-]+)\.new\.\$\$ <</gm)].map((m) => m[1]);
    expect(installed).toEqual([...INSTANCE_SCRIPTS, contract.AGENT_CONF, contract.RESULTS_CONF, contract.NOTIFY_CONF]);
    expect(prepare).not.toMatch(/\.new(?!\.\$\$)/);
  });
});

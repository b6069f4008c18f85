// The words and parsing of a spot interruption (src/session/interruption*.ts): what the agent's
// file says, the line at the notice, what the next run says, and which StateReason is EC2's.
import { describe, expect, it } from 'vitest';
import { noticeLine, parseNotice } from '../../src/session/interruption.js';
import { recordLine, spotActionOf } from '../../src/session/interruption-record.js';
import { agentConf, parsePrepared } from '../../src/remote/on-instance.js';

describe('a spot interruption', () => {
  it("reads the agent's file, and nothing else", () => {
    expect(parseNotice('\n\n\nstop 2026-11-30T16:40:00Z\n')).toEqual({ action: 'stop', time: '2026-11-30T16:40:00Z' });
    expect(parseNotice('terminate 2026-11-30T16:40:00Z\n')?.action).toBe('terminate');
    expect(parseNotice('\n\n')).toBeUndefined();
    expect(parseNotice('reboot 2026-11-30T16:40:00Z')).toBeUndefined();
    expect(parsePrepared('interruption stop 2026-11-30T16:40:00Z\n').interruption).toEqual({
      action: 'stop',
      time: '2026-11-30T16:40:00Z',
    });
  });

  it('says when EC2 acts and how long is left, on the local clock', () => {
    const at = new Date(2026, 10, 30, 16, 40, 0);
    const line = noticeLine({ action: 'stop', time: at.toISOString() }, new Date(at.getTime() - 112_000));
    expect(line).toBe(
      'spot interruption: EC2 will stop this instance at 16:40:00 (in 1m52s); bringing results home now',
    );
    expect(noticeLine({ action: 'terminate', time: 'soon' }, at)).toMatch(/terminate this instance within two minutes/);
  });

  it("the next run: resumed on the disk of a stopped one; a terminated one's results home or not", () => {
    const r = { instanceId: 'i-0abc', action: 'stop', time: 'x', resultsHome: true };
    expect(recordLine(r)).toBe(
      "the last run's instance i-0abc was interrupted by EC2 (spot): it was stopped, resuming on its disk",
    );
    expect(recordLine({ ...r, action: 'terminate' })).toMatch(/new instance; its results were already home$/);
    expect(recordLine({ ...r, action: 'terminate', resultsHome: false })).toMatch(/could not all be brought home/);
  });

  it("knows EC2's StateReason for a spot instance it took (the SDK gives the message, which starts with the code)", () => {
    expect(spotActionOf('Server.SpotInstanceShutdown: The instance was stopped because …')).toBe('stop');
    expect(spotActionOf('Server.SpotInstanceTermination: The instance was terminated because …')).toBe('terminate');
    expect(spotActionOf('Client.UserInitiatedShutdown: User initiated shutdown')).toBeUndefined();
    expect(spotActionOf(undefined)).toBeUndefined();
  });

  it('gives the agent the hook and the project directory, quoted', () => {
    const conf = agentConf({
      instanceId: 'i-1',
      imdsUrl: 'http://x',
      poweroffCommand: 'off',
      idleTimeout: 0,
      deadline: 0,
      jobGrace: 0,
      maxTime: 0,
      onInterrupt: "echo 'saved' > x",
      projectDir: 'my project',
    });
    expect(conf).toContain(`ON_INTERRUPT='echo '\\''saved'\\'' > x'\n`);
    expect(conf).toContain(`PROJECT_DIR='my project'\n`);
  });
});

import { describe, expect, it } from 'vitest';
import { trapSignals } from '../../src/session/signals.js';
import { createLogger } from '../../src/ui/logger.js';

function trap(quietly: () => boolean) {
  const lines: string[] = [];
  const log = createLogger({ stream: { write: (s: string) => lines.push(s.trimEnd()) > 0 } as never, env: {} });
  const interrupts: string[] = [];
  const t = trapSignals(
    log,
    (s) => interrupts.push(s),
    () => undefined,
    quietly,
  );
  return { t, lines, interrupts };
}

describe('the signal trap', () => {
  it('a SIGINT taken quietly (following a job) is no interrupt: nothing said, no status of its own', () => {
    const { t, lines, interrupts } = trap(() => true);
    try {
      process.emit('SIGINT', 'SIGINT');
      expect(lines).toEqual([]);
      expect(interrupts).toEqual([]);
      expect(t.exitStatus()).toBeUndefined();
    } finally {
      t.dispose();
    }
  });

  it('otherwise the first SIGINT interrupts the run, said once, and sets 130', () => {
    const { t, lines, interrupts } = trap(() => false);
    try {
      process.emit('SIGINT', 'SIGINT');
      expect(interrupts).toEqual(['SIGINT']);
      expect(lines).toEqual([expect.stringContaining('SIGINT received: stopping, then finishing')]);
      expect(t.exitStatus()).toBe(130);
    } finally {
      t.dispose();
    }
  });
});

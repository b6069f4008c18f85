/**
 * SIGINT, SIGTERM and SIGHUP never skip the finish (sync back, final state): the first one
 * interrupts what is running; later ones are reported and otherwise ignored until the finish is
 * done. Only SIGKILL can cut it short. A SIGINT that `quietly` takes (following a job's output:
 * logs, --attach) is no interrupt of the run: it stops following, and the run ends as usual.
 */
import type { Logger } from '../ui/logger.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type TrappedSignal = (typeof SIGNALS)[number];
const NUMBERS: Record<TrappedSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

export interface SignalTrap {
  readonly received: TrappedSignal | undefined;
  /** 128 + the signal's number, the status a shell reports for it. */
  exitStatus(): number | undefined;
  dispose(): void;
}

export function trapSignals(
  log: Logger,
  onFirst: (signal: TrappedSignal) => void,
  finishing: () => string | undefined,
  quietly: (signal: TrappedSignal) => boolean = () => false,
): SignalTrap {
  let received: TrappedSignal | undefined;
  const handler = (signal: TrappedSignal) => {
    if (received === undefined && quietly(signal)) return;
    if (received === undefined) {
      received = signal;
      log.warn(`${signal} received: stopping, then finishing (sync back and final state)`);
      onFirst(signal);
      return;
    }
    log.warn(
      `${signal} received again: still finishing${finishing() ? ` (${finishing()})` : ''}; ssh-ec2 exits when that is done`,
    );
  };
  for (const s of SIGNALS) process.on(s, handler);
  return {
    get received() {
      return received;
    },
    exitStatus: () => (received ? 128 + NUMBERS[received] : undefined),
    dispose: () => {
      for (const s of SIGNALS) process.off(s, handler);
    },
  };
}

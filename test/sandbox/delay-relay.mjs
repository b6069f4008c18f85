#!/usr/bin/env node
// ssh's ProxyCommand for a sandbox started with linkDelayMs: a link with latency, played in user
// space because this machine's kernel has no netem. `node delay-relay.mjs PORT DELAY_MS` connects
// to 127.0.0.1:PORT (an instance's sshd) and forwards stdin → sshd and sshd → stdout, each chunk
// delivered DELAY_MS after it arrived (so a round trip costs 2 × DELAY_MS). Plain JavaScript, no
// imports beyond Node's: ssh starts one per connection, so it must start in the time of a bare Node.
import { connect } from 'node:net';

const [port, delay] = process.argv.slice(2).map(Number);
if (!port || !(delay >= 0)) {
  process.stderr.write('usage: delay-relay.mjs PORT DELAY_MS\n');
  process.exit(2);
}

const socket = connect({ host: '127.0.0.1', port });

/**
 * Copies `from` to `to`, each chunk DELAY_MS late. Timers of one delay fire in the order they were
 * set, so the bytes keep their order; `from`'s end is passed on after its last chunk. Reading
 * pauses while too much is in flight, so a large transfer does not pile up in memory.
 */
function pipeLate(from, to, onEnd) {
  let inFlight = 0;
  from.on('data', (chunk) => {
    inFlight += chunk.length;
    if (inFlight > 8 << 20) from.pause();
    setTimeout(() => {
      to.write(chunk);
      inFlight -= chunk.length;
      if (inFlight <= 8 << 20) from.resume();
    }, delay);
  });
  from.on('end', () => setTimeout(onEnd, delay));
}

socket.on('connect', () => {
  pipeLate(process.stdin, socket, () => socket.end());
  pipeLate(socket, process.stdout, () => process.stdout.end(() => process.exit(0)));
});
socket.on('error', (err) => {
  process.stderr.write(`delay-relay: 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(255);
});
// ssh closing our stdout (it has what it wanted): nothing more to deliver.
process.stdout.on('error', () => process.exit(0));

/**
 * Small pieces of the words the user reads, built the same way everywhere: a path as it must be
 * typed in a shell (the user copies our "what next" lines), and a time as the user's clock shows it
 * (never raw UTC: issue #10).
 */

/** A word as a POSIX shell reads it back unchanged: as it is when plain, else single-quoted. */
export function shellWord(s: string): string {
  if (s !== '' && /^[\w@%+=:,./~-]+$/.test(s) && !s.startsWith('~')) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `2026-11-30 08:19:02 CET`: the local date and time, with the zone's short name. */
export function localTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((part) => part.type === 'timeZoneName')?.value;
  return zone ? `${day} ${time} ${zone}` : `${day} ${time}`;
}

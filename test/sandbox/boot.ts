// What cloud-init does with an instance's user data at each boot, as far as the sandbox plays it:
// the boothooks (text/cloud-boothook parts, or a whole document starting #cloud-boothook), which
// cloud-init runs on every boot. The sandbox runs them as the instance's login user in its
// namespace (machine.ts boot), never as root: nothing in them can touch this machine.

/** The boothook scripts of a user data document, in order. */
export function bootHooks(userData: string | undefined): string[] {
  if (!userData) return [];
  return parts(userData).flatMap(({ type, body }) => {
    if (type === 'text/cloud-boothook') return [body.replace(/^#cloud-boothook\n/, '')];
    return [];
  });
}

interface Part {
  type: string;
  body: string;
}

/** A MIME document's leaf parts (nested multiparts walked), or the document itself as one part by its first line. */
function parts(doc: string): Part[] {
  const text = doc.replace(/\r\n/g, '\n');
  if (!/^(content-type|mime-version):/i.test(text))
    return [{ type: text.startsWith('#cloud-boothook') ? 'text/cloud-boothook' : 'text/plain', body: text }];
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 2);
  const header = (name: string) => new RegExp(`^${name}:\\s*([^\\n]*)`, 'im').exec(head)?.[1]?.trim() ?? '';
  const type = header('content-type').split(';')[0]!.trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(header('content-type'))?.[1];
    if (!boundary) return [];
    const delimiter = `\n--${boundary}`;
    const inner = `\n${body}`.split(delimiter).slice(1);
    return inner
      .filter((p) => !p.startsWith('--'))
      .flatMap((p) => parts(p.replace(/^[^\n]*\n/, '').replace(/\n$/, '')));
  }
  const decoded =
    header('content-transfer-encoding').toLowerCase() === 'base64'
      ? Buffer.from(body, 'base64').toString('utf8')
      : body;
  return [{ type, body: decoded }];
}

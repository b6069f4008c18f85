/**
 * What the local machine's file system does with names, found by asking it (never from a table
 * of beliefs about operating systems): a Mac's APFS is case-insensitive by default and takes the
 * composed (NFC) and decomposed (NFD) forms of a name for one file; Linux file systems tell all
 * of them apart. Behind this small interface so tests can play a Mac on a Linux machine.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NameFolding {
  /** `Data.csv` and `data.csv` are one file here. */
  caseInsensitive: boolean;
  /** `é` (U+00E9) and `é` (e + U+0301) are one file here. */
  normalisationInsensitive: boolean;
}

export interface Platform {
  /** How the file system holding `dir` (an existing directory we may write to) compares names. */
  nameFolding(dir: string): NameFolding;
}

/** The real one: creates a file in `dir` and looks it up by other spellings of its name. */
export const localPlatform: Platform = {
  nameFolding(dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stem = `name-probe-${process.pid}-`;
    const probe = join(dir, `${stem}A\u00e9`);
    writeFileSync(probe, '');
    try {
      return {
        caseInsensitive: existsSync(join(dir, `${stem}a\u00e9`)),
        normalisationInsensitive: existsSync(join(dir, `${stem}Ae\u0301`)),
      };
    } finally {
      rmSync(probe, { force: true });
    }
  },
};

/**
 * The key under which such a file system files a name: names with one key are one file there.
 * Only for comparing; names themselves always travel byte for byte.
 */
export function nameKey(folding: NameFolding): (name: string) => string {
  return (name) => {
    const n = folding.normalisationInsensitive ? name.normalize('NFC') : name;
    return folding.caseInsensitive ? n.toLowerCase() : n;
  };
}

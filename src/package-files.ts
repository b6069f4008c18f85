/**
 * A file the package ships (package.json "files"), by its path from the package root. This module
 * sits one level below the root in src/, and so does every module of the build: scripts/build.mjs
 * writes the bundle's files directly in dist/, whichever modules each one holds.
 */
export function packageFile(path: string): URL {
  return new URL(`../${path}`, import.meta.url);
}

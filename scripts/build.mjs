// The build (`npm run build`): the CLI bundled by esbuild into dist/, dependencies included, split
// at every dynamic import() — each command (src/commands/*/spec.ts `load`) and the cloud port
// (story.ts) are chunks of their own, loaded only when used, so `--version` and `--help` read no
// AWS SDK. Bundled, the SDK keeps only the commands we import (its ES modules are side-effect
// free), and one file replaces the hundreds Node would otherwise resolve and read one by one.
// Types are checked by `npm run typecheck` (tsc), not here.
//
// Every output file lands directly in dist/ (no sub-folders): the code that finds files shipped
// beside it (src/package-files.ts: package.json, src/agent/*.sh) counts on being one level below
// the package root, in src/ and in dist/ alike.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The SDK describes every shape of a service in one module (schemas_0.js, 1.3 MB for EC2), as
 * arrays such as `[3, n0, _I, 0, [...], [[() => X$, { [_xN]: _iS }]]]`. An object literal with a
 * computed key might run code (a key's toString), so esbuild keeps every such array and all it
 * names: the whole file. The keys are names of string constants declared in the same module;
 * written as those strings, the arrays are plain data and only the shapes of the commands we send
 * stay in the bundle.
 */
let schemasRewritten = 0;
const sdkSchemasAsData = {
  name: 'sdk-schemas-as-data',
  setup(b) {
    b.onLoad({ filter: /[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/ }, ({ path }) => {
      const text = readFileSync(path, 'utf8');
      const strings = new Map();
      for (const m of text.matchAll(/^const (_\w+) = ("[^"\\]*");$/gm)) strings.set(m[1], m[2]);
      // A name that is not one of those constants is left as it is (and keeps its array).
      const contents = text.replace(/([{,]\s*)\[(_\w+)\]:/g, (all, before, name) =>
        strings.has(name) ? `${before}${strings.get(name)}:` : all,
      );
      if (contents !== text) schemasRewritten++;
      return { contents, loader: 'js' };
    });
  },
};

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  // A dynamically imported module is a chunk named after its file; a shared one after its first
  // module. Both flat in dist/ (see above).
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The ES module build of a package first: the AWS SDK's CommonJS build is one file per package,
  // which keeps every command and model of EC2 (2 MB) where its ES modules let the unused ones go.
  mainFields: ['module', 'main'],
  // Errors stay readable with `node --enable-source-maps`; the maps are separate files, so a run
  // that does not ask for them does not read them. They are not shipped (package.json "files":
  // dist/*.js): 4.7 MB of the package's 6.4 for stacks a maintainer can map back with a build of
  // the same version (the build is deterministic); test/fixtures/no-aws-sdk.mjs reads them here.
  sourcemap: 'linked',
  // Some dependencies are CommonJS and require() Node's modules: in an ES module, `require` must
  // be made.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  plugins: [sdkSchemasAsData],
  logLevel: 'warning',
  metafile: true,
});

// An SDK release that writes its schemas otherwise would silently bring the whole of EC2 back.
if (schemasRewritten === 0) throw new Error('build.mjs: no AWS SDK schema module was rewritten: see sdkSchemasAsData');

if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}

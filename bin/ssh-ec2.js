#!/usr/bin/env node
import { enableCompileCache, main } from '../dist/cli.js';

// Before the rest of the CLI is loaded (dist/cli.js imports it when a command needs it).
enableCompileCache();
process.exitCode = await main(process.argv.slice(2));

import { runTransportBenchSuite } from './suite.js';

// `npm run bench:transport`: node test/support/run.mjs test/bench/transport/main.ts [flags]
process.exitCode = await runTransportBenchSuite(process.argv.slice(2));

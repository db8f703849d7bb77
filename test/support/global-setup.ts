import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { bundleForChild } from './bundle.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the bundled `skein` command, for tests that spawn real broker processes. */
    cliPath: string | null;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const cli = existsSync('broker/cli/main.ts') ? await bundleForChild('broker/cli/main.ts', 'cli') : null;
  project.provide('cliPath', cli);
}

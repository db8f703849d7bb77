import { accessSync, constants } from 'node:fs';
import { delimiter, join, sep } from 'node:path';

/**
 * How to type `skein` where this copy runs, for the hints the command
 * prints ("Run ... --help", the `skein dev` banner): `skein` when a `skein`
 * is on the PATH (a global install, `npm link`), `npx skein` when this copy
 * is a dependency in node_modules, and `npm run skein --` in a clone, where
 * the package's own bin is on no PATH.
 *
 * The node_modules/.bin folders that npm and npx put on the PATH of the
 * processes they start do not count: they are not on the PATH of the shell
 * the user types the hint into.
 */
export function skeinInvocation(env: NodeJS.ProcessEnv = process.env, script: string | undefined = process.argv[1]): string {
  if (onPath('skein', env)) return 'skein';
  if (script !== undefined && script.split(/[\\/]/).includes('node_modules')) return 'npx skein';
  return 'npm run skein --';
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  const names = process.platform === 'win32' ? ['.cmd', '.exe', '.ps1', ''].map((ext) => command + ext) : [command];
  const dirs = (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '' && !dir.includes(`node_modules${sep}.bin`) && !dir.endsWith('node_modules/.bin'));
  for (const dir of dirs) {
    for (const name of names) {
      try {
        accessSync(join(dir, name), process.platform === 'win32' ? constants.F_OK : constants.X_OK);
        return true;
      } catch {
        // not in this folder
      }
    }
  }
  return false;
}

import { onTestFinished } from 'vitest';

export interface Closable {
  close(): Promise<unknown>;
}

/**
 * Closes `resource` once the current test finishes, pass or fail, and returns it. Vitest runs these
 * hooks in reverse order of registration, so a client registered after its cluster is closed first
 * and does not chase brokers going away; an error closing one fails the test and the others still close.
 */
export function closeAfterTest<T extends Closable>(resource: T): T {
  onTestFinished(async () => {
    await resource.close();
  });
  return resource;
}

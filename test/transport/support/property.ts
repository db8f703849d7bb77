import fc from 'fast-check';

/**
 * fast-check settings for the transport's property tests. A failure prints
 * fast-check's seed and path; replay it with
 *   SKEIN_FC_SEED=<seed> SKEIN_FC_PATH=<path> npx vitest run <file>
 * and scale a sweep with SKEIN_FC_RUNS=<n> (under flock /tmp/skein-heavy.lock).
 */
export function propertyParameters(defaultRuns: number): fc.Parameters<unknown> {
  const env = process.env;
  const seed = env.SKEIN_FC_SEED === undefined ? undefined : Number(env.SKEIN_FC_SEED);
  const runs = env.SKEIN_FC_RUNS === undefined ? defaultRuns : Number(env.SKEIN_FC_RUNS);
  return {
    numRuns: runs,
    ...(seed === undefined ? {} : { seed }),
    ...(env.SKEIN_FC_PATH === undefined ? {} : { path: env.SKEIN_FC_PATH }),
    endOnFailure: true,
  };
}

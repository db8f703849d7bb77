import { SkeinError } from '../errors.js';
import { createLossModel, type LinkLossModel } from './model.js';
import { parseLossSpec } from './spec.js';

/** The environment variable that puts any skein process on a lossy link without code changes. */
export const lossEnvVariable = 'SKEIN_LOSS';

/**
 * The loss model SKEIN_LOSS asks for, or null when it is unset or blank.
 * A bad spec throws INVALID_CONFIG naming the variable, the key and the value:
 * an experiment must not silently run on a perfect link because of a typo.
 */
export function lossModelFromEnv(env: NodeJS.ProcessEnv = process.env): LinkLossModel | null {
  const text = env[lossEnvVariable];
  if (text === undefined || text.trim() === '') return null;
  try {
    return createLossModel(parseLossSpec(text));
  } catch (error) {
    if (error instanceof SkeinError) {
      throw new SkeinError(error.code, { message: `${lossEnvVariable}: ${error.message}`, details: error.details, cause: error });
    }
    throw error;
  }
}

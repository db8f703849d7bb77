import { SkeinError } from '../errors.js';
import { createLossModel, type LinkLossModel } from './model.js';
import { parseLossSpec } from './spec.js';
import type { LossModel } from './types.js';

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
  return modelFromText(text, lossEnvVariable);
}

/**
 * What a `loss` option means wherever one is taken (an endpoint, a client): a
 * model as given, a spec string parsed now (a typo fails at once, not at the
 * first datagram; its error starts with `origin` when one is given), null for
 * none, undefined for whatever SKEIN_LOSS says.
 */
export function resolveLossModel(loss: LossModel | string | null | undefined, origin?: string): LossModel | null {
  if (loss === undefined) return lossModelFromEnv();
  if (loss === null) return null;
  if (typeof loss !== 'string') return loss;
  return origin === undefined ? createLossModel(parseLossSpec(loss)) : modelFromText(loss, origin);
}

/** Parses a spec; an error names where the text came from. */
function modelFromText(text: string, origin: string): LinkLossModel {
  try {
    return createLossModel(parseLossSpec(text));
  } catch (error) {
    if (error instanceof SkeinError) {
      throw new SkeinError(error.code, { message: `${origin}: ${error.message}`, details: error.details, cause: error });
    }
    throw error;
  }
}

import type { LossDirection, LossModel, LossStats } from './types.js';

/**
 * Chains loss models: every copy the first one lets through meets the second
 * one at its own delivery time, so a base link (from SKEIN_LOSS, say) and a
 * test's partition model stack without knowing about each other.
 * `stats.datagrams` is the first model's count; every other counter sums.
 */
export function composeLossModels(...models: readonly LossModel[]): LossModel {
  if (models.length === 0) throw new Error('composeLossModels needs at least one model');
  if (models.length === 1) return models[0]!;
  return {
    decide(nowMs: number, peer: string, bytes: number, direction: LossDirection = 'send'): readonly number[] {
      let delays: readonly number[] = [0];
      for (const model of models) {
        const next: number[] = [];
        for (const before of delays) {
          for (const after of model.decide(nowMs + before, peer, bytes, direction)) next.push(before + after);
        }
        delays = next;
        if (delays.length === 0) break;
      }
      return delays;
    },
    get stats(): LossStats {
      const sum: LossStats = { ...models[0]!.stats };
      for (const model of models.slice(1)) {
        sum.dropped += model.stats.dropped;
        sum.duplicated += model.stats.duplicated;
        sum.reordered += model.stats.reordered;
        sum.delayed += model.stats.delayed;
        sum.queueDropped += model.stats.queueDropped;
        sum.blackholed += model.stats.blackholed;
      }
      return sum;
    },
  };
}

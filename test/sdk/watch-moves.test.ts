import { describe, expect, it } from 'vitest';
import { Skein } from '../../sdk/client.js';
import { clusterLimits } from '../../transport/limits.js';

describe('admin.watchMoves options', () => {
  it('refuses an everyMs outside its limits before asking anything, and takes one at either edge', async () => {
    await using skein = new Skein({ brokers: ['127.0.0.1:9'], bootstrapTimeoutMs: 1_000 });
    const admin = skein.admin();
    for (const everyMs of [clusterLimits.moveWatchEveryMsMin - 1, clusterLimits.moveWatchEveryMsMax + 1, Number.NaN]) {
      await expect(admin.watchMoves([1], { everyMs }).next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/watchMoves.*everyMs/) });
    }
    // At the edges the options pass: what fails is reaching a cluster (nothing listens here).
    for (const everyMs of [clusterLimits.moveWatchEveryMsMin, clusterLimits.moveWatchEveryMsMax]) {
      await expect(admin.watchMoves([1], { everyMs }).next()).rejects.toMatchObject({ code: 'NO_BROKERS_REACHABLE' });
    }
  }, 30_000);
});

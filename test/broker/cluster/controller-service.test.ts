import { describe, expect, it } from 'vitest';
import type { Controller } from '../../../broker/cluster/controller.js';
import { ControllerService } from '../../../broker/cluster/controller-service.js';
import type { PeerLinks } from '../../../broker/cluster/peers.js';
import { SkeinError } from '../../../transport/errors.js';

/** A broker that is not the controller, whose copy of the metadata names broker 2 as the controller. */
function service(alive: number[]): { service: ControllerService; forwarded: number[] } {
  const forwarded: number[] = [];
  const controller = { isLeader: () => false, leaderId: () => 2 } as unknown as Controller;
  const peers = {
    selfId: 1,
    // A controller that is gone never answers: the request ends only at its deadline.
    request: (to: number) => {
      forwarded.push(to);
      return Promise.reject(new SkeinError('TIMEOUT', { message: 'no answer' }));
    },
  } as unknown as PeerLinks;
  return { service: new ControllerService({ controller, peers, topicDefaults: {} as never, aliveBrokers: () => new Set(alive) }), forwarded };
}

describe('ControllerService: forwarding to the controller', () => {
  it('a controller not heard from lately is not asked: LEADER_NOT_AVAILABLE (retriable) at once, for operations and joins alike', async () => {
    const { service: gone, forwarded } = service([3]);
    await expect(gone.run({ op: 'deleteTopic', name: 't' }, new AbortController().signal)).rejects.toMatchObject({ code: 'LEADER_NOT_AVAILABLE', message: expect.stringMatching(/broker 2/) });
    const join = { op: 'join', broker: { id: 4, host: 'h', port: 1 }, storageId: 'a'.repeat(32) };
    await expect(gone.handleForwarded(join, new AbortController().signal, 4)).rejects.toMatchObject({ code: 'LEADER_NOT_AVAILABLE' });
    expect(forwarded).toEqual([]);
  });

  it('a controller heard from is asked', async () => {
    const { service: alive, forwarded } = service([2, 3]);
    await expect(alive.run({ op: 'deleteTopic', name: 't' }, new AbortController().signal)).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(forwarded).toEqual([2]);
  });
});

import { frameType, readAck } from '../../../transport/core/frames.js';
import { dataHeaderBytes, packetType } from '../../../transport/core/packet.js';
import { DecodeError, Reader } from '../../../transport/core/varint.js';

/** Whether a DATA packet carries stream bytes at or beyond `offset` (frames are walked, not applied). */
export function carriesStreamBeyond(bytes: Uint8Array, offset: number): boolean {
  return streamEndOf(bytes) > offset;
}

/** The end offset of the stream bytes a DATA packet carries (0: none; frames are walked, not applied). */
export function streamEndOf(bytes: Uint8Array): number {
  if (bytes[0] !== packetType.data) return 0;
  const reader = new Reader(bytes, dataHeaderBytes, bytes.length);
  const ack = { largest: 0, ackDelayUs: 0, rangeCount: 0, ranges: new Float64Array(128) };
  let end = 0;
  try {
    while (reader.remaining > 0) {
      const type = reader.u8();
      if (type === frameType.stream) {
        const start = reader.varint();
        const length = reader.varint();
        end = Math.max(end, start + length);
        reader.skip(length);
      } else if (type === frameType.ack) readAck(reader, ack, 64);
      else if (type === frameType.maxData) reader.varint();
      else if (type !== frameType.padding && type !== frameType.ping) return end;
    }
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
  return end;
}

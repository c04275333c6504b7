/**
 * Frame codec: a typical EVAL encoded to a frame and decoded back through the stream decoder
 * and the message decoder, per second; baseline: a plain `Buffer.concat` copy of the same bytes.
 */
import { FrameDecoder, decodeMessage, encodeMessage, type Eval } from '../../protocol/index.js';
import { compareRates, result, type BenchResult } from './measure.js';

export function frameCodec(): BenchResult {
  const message: Eval = { type: 'EVAL', counter: 1042, level: 5, origin: 1, txnId: '430300-20261127-0001', deviceTime: 1795751405200, promptMs: 1200 };
  const wire = Buffer.from(encodeMessage(message, 1));
  const decoder = new FrameDecoder({ synced: true });
  const batch = 1000;
  let sink = 0;
  const { figure, baseline } = compareRates(
    () => {
      for (let i = 0; i < batch; i++) {
        const bytes = encodeMessage(message, (i % 65535) + 1);
        for (const out of decoder.push(bytes)) if (out.kind === 'frame') sink += decodeMessage(out.frame).seq;
      }
    },
    () => {
      for (let i = 0; i < batch; i++) sink += Buffer.concat([wire]).length;
    },
    batch,
  );
  if (sink === 0) throw new Error('benchmark did no work');
  return result({ bench: 'frame-codec', figure: Math.round(figure), unit: 'EVAL frames encoded+decoded/s', baseline: Math.round(baseline), baselineName: 'Buffer.concat copy of the same frame bytes', frameBytes: wire.length });
}

/**
 * A small store holding every kind of record an export must get right, committed the hub's
 * way (`commitEvaluation`): each channel and level, reasons, comments that need CSV quoting,
 * a consented contact (masked in JSON), misuse flags (out of the national export), a refused
 * second rating and a superseded level 0 (out of every export), a 评价次数 2, ties on
 * `evaluatedAt` (ordered by id), and ratings on both edges of the range. The golden files in
 * tests/fixtures/export/ are what the hub exported from it before exports were streamed.
 */
import type { Evaluation } from '../../protocol/index.js';
import { commitEvaluation, recordService } from '../../hub/evaluations.js';
import type { Store } from '../../hub/store.js';
import { evaluation } from './evaluation.js';

export const EXPORT_HALL = { hallId: '430300-001', areaCode: '430300', deptCode: '11430300MB1234567X' };
/** The range the golden files were exported for. */
export const EXPORT_RANGE = { from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' };

const OPTIONS = { attachWithinMs: 40_000, misuseWindowMs: 10_000 };
const CHANNELS: Evaluation['channel'][] = ['evaluator', 'tablet', 'qr', 'sms', 'phone'];
const COMMENTS = ['', '慢, 说"下次"\n再来', 'plain', 'a,b', '"quoted"', 'line\r\nbreak', '很好'];

export async function seedExportStore(store: Store): Promise<void> {
  const commit = (e: Evaluation) => store.submit((db) => commitEvaluation(db, e, OPTIONS));
  const base = Date.parse('2026-11-03T01:00:00.000Z');
  const at = (ms: number) => new Date(base + ms).toISOString();
  // the range's edges: one just before `from`, one at `from`, one at `to` (excluded), one just before `to`
  await commit(evaluation({ id: 'HCP5-EDGE-1', evaluatedAt: '2026-10-31T23:59:59.999Z' }));
  await commit(evaluation({ id: 'HCP5-EDGE-2', evaluatedAt: EXPORT_RANGE.from, level: 4 }));
  await commit(evaluation({ id: 'HCP5-EDGE-3', evaluatedAt: EXPORT_RANGE.to, level: 3 }));
  await commit(evaluation({ id: 'HCP5-EDGE-4', evaluatedAt: '2026-11-30T23:59:59.999Z', level: 2, reasons: ['waiting'] }));
  for (let i = 1; i <= 40; i++) {
    const channel = CHANNELS[i % CHANNELS.length]!;
    const txnId = i % 4 === 0 ? null : `430300-A01-${i}`;
    if (txnId) await store.submit((db) => recordService(db, { txnId, windowId: 'A01', event: 'done', matterCode: `M${i % 3}`, matterName: ['营业执照', '社保卡', '居住证'][i % 3]!, staffId: `S${i % 5}`, staffName: ['李明', '王芳', '张伟', '刘洋', '陈静'][i % 5]!, at: at(i * 60_000 - 5_000) }));
    const contact = i % 9 === 0 ? `1381234${String(5000 + i).padStart(4, '0')}` : null;
    await commit(
      evaluation({
        id: `HCP5-X${i % 3}-${i}`,
        channel,
        level: i % 6,
        reasons: i % 6 === 1 ? ['attitude', 'waiting'] : i % 6 === 2 ? ['efficiency'] : [],
        comment: COMMENTS[i % COMMENTS.length]!,
        contact,
        consent: contact !== null,
        txnId,
        // every fifth pair shares its time: the export orders ties by id
        evaluatedAt: at(Math.floor(i / 2) * 60_000),
        receivedAt: at(Math.floor(i / 2) * 60_000 + 300),
        origin: i % 4 === 0 ? 'unsolicited' : 'prompted',
        flags: i % 8 === 0 ? ['misuse'] : i % 11 === 0 ? ['late', 'retry'] : [],
        promptMs: i % 4 === 0 ? null : 1000 + i,
      }),
    );
  }
  // a second rating of a rated transaction: kept, refused, never exported
  await commit(evaluation({ id: 'HCP5-X9-1', txnId: '430300-A01-1', level: 1, evaluatedAt: at(3_600_000) }));
  // a level 0 (prompt timed out) superseded by the rating that came after it
  await store.submit((db) => recordService(db, { txnId: '430300-A01-S', windowId: 'A01', event: 'done', matterCode: 'M1', matterName: '社保卡', staffId: 'S1', staffName: '王芳', at: at(7_200_000) }));
  await commit(evaluation({ id: 'HCP5-X9-2', txnId: '430300-A01-S', level: 0, evaluatedAt: at(7_210_000), origin: 'prompted' }));
  await commit(evaluation({ id: 'HCP5-X9-3', txnId: '430300-A01-S', level: 5, channel: 'qr', evaluatedAt: at(7_260_000), origin: 'prompted' }));
  // 评价次数 2: the citizen's rating after a rectified 差评
  await commit(evaluation({ id: 'HCP5-X9-4', channel: 'phone', level: 4, ratingNo: 2, followUpOf: 'HCP5-X1-1', evaluatedAt: at(9_000_000), comment: '已解决' }));
}

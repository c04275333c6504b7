/**
 * USB HID transport (PROTOCOL 1.2): 64-byte reports without report IDs. Byte 0 is the number
 * of valid bytes that follow (1..63); bytes 1..count are the next slice of the same byte
 * stream as on serial; the rest is zero. Frames may span reports and share them.
 */
import { FrameError } from './errors.js';

export const HID_REPORT_BYTES = 64;
export const HID_MAX_SLICE = HID_REPORT_BYTES - 1;
export const HID_USAGE_PAGE = 0xff00;

/** Cuts a stretch of the byte stream into reports. */
export function packReports(stream: Uint8Array): Uint8Array[] {
  const reports: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += HID_MAX_SLICE) {
    const slice = stream.subarray(at, Math.min(at + HID_MAX_SLICE, stream.length));
    const report = new Uint8Array(HID_REPORT_BYTES);
    report[0] = slice.length;
    report.set(slice, 1);
    reports.push(report);
  }
  return reports;
}

/** The stream bytes a report carries. Throws `FrameError('hid-report')` on a malformed report. */
export function unpackReport(report: Uint8Array): Uint8Array {
  if (report.length !== HID_REPORT_BYTES) {
    throw new FrameError('hid-report', `HID report of ${report.length} bytes, expected ${HID_REPORT_BYTES}`);
  }
  const count = report[0]!;
  if (count < 1 || count > HID_MAX_SLICE) {
    throw new FrameError('hid-report', `HID report byte count ${count}, expected 1..${HID_MAX_SLICE}`, 0);
  }
  return report.subarray(1, 1 + count);
}

/** node-hid's `write` takes a leading report-ID byte (0x00 without report IDs); it is not one of the 64. */
export function withReportId(report: Uint8Array): number[] {
  return [0x00, ...report];
}

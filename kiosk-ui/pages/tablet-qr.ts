/**
 * The tablet's QR code for a transaction's rateUrl (PROTOCOL 8), a bundle of its own
 * (`/assets/tablet-qr.js`): the qrcode library is loaded only when a citizen asks for the
 * code, never before the five choices are on screen (issue 15 goal 8).
 */
import QRCode from 'qrcode';

export function qrSvg(url: string): Promise<string> {
  return QRCode.toString(url, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
}

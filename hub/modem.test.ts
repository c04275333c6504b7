/** The modem driver's pure parts: UCS2 hex, the line reader (split everywhere, noise), the answer parsers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AtLineReader, answerFields, decodeNumber, decodeText, fromUcs2Hex, normalizeNumber, parseCmgl, parseCmgr, parseCsq, parseScts, toUcs2Hex, type AtToken } from './modem.js';

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe('UCS2 hex', () => {
  it('is big-endian UTF-16 in upper-case hex, four digits a code unit (PROTOCOL 7)', () => {
    expect(toUcs2Hex('13812345678')).toBe('00310033003800310032003300340035003600370038');
    expect(toUcs2Hex('请评价A01')).toBe('8BF78BC44EF7004100300031');
    expect(toUcs2Hex('５')).toBe('FF15');
    expect(toUcs2Hex('😀')).toBe('D83DDE00'); // outside the BMP: a surrogate pair, two units
  });

  it('round-trips any text, and refuses what is not whole code units of hex', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => fromUcs2Hex(toUcs2Hex(text)) === text));
    expect(fromUcs2Hex('003')).toBeUndefined();
    expect(fromUcs2Hex('00G1')).toBeUndefined();
    expect(fromUcs2Hex('8bf7')).toBe('请');
  });

  it('a number or text a modem sent in plain characters is taken as it is', () => {
    expect(decodeNumber('002B0038003600310033003800310032003300340035003600370038')).toBe('+8613812345678');
    expect(decodeNumber('+8613812345678')).toBe('+8613812345678');
    expect(decodeNumber('861381234567')).toBe('861381234567'); // 12 digits would "decode" to three CJK characters
    expect(decodeText('hello')).toBe('hello');
  });
});

describe('normalizeNumber', () => {
  it('drops +86, 0086 and 86 before a mainland mobile number, nothing else', () => {
    expect(normalizeNumber('+8613812345678')).toBe('13812345678');
    expect(normalizeNumber('008613812345678')).toBe('13812345678');
    expect(normalizeNumber('8613812345678')).toBe('13812345678');
    expect(normalizeNumber('13812345678')).toBe('13812345678');
    expect(normalizeNumber('+1 650 555 0100')).toBe('+16505550100');
    expect(normalizeNumber('10086')).toBe('10086');
  });
});

describe('parseScts', () => {
  it('reads the service centre time stamp with its zone in quarter hours', () => {
    expect(parseScts('26/12/01,10:15:00+32')).toBe(Date.parse('2026-12-01T02:15:00Z'));
    expect(parseScts('26/12/01,10:15:00-04')).toBe(Date.parse('2026-12-01T11:15:00Z'));
    expect(parseScts('26/13/01,10:15:00+32')).toBeUndefined();
    expect(parseScts('garbage')).toBeUndefined();
  });
});

describe('the answer parsers', () => {
  it('answerFields keeps commas inside quotes and empty fields', () => {
    expect(answerFields(' "REC UNREAD","00310030",,"26/12/01,10:15:00+32"')).toEqual(['REC UNREAD', '00310030', '', '26/12/01,10:15:00+32']);
  });

  it('parseCmgr reads a SIM800 answer (quoted empty alpha) and an EC20 one (empty alpha), and an empty slot', () => {
    const number = toUcs2Hex('+8613812345678');
    const text = toUcs2Hex('５ 很满意');
    expect(parseCmgr(3, [`+CMGR: "REC UNREAD","${number}","","26/12/01,10:15:00+32"`, text])).toEqual({ index: 3, number: '+8613812345678', text: '５ 很满意', scts: '26/12/01,10:15:00+32' });
    expect(parseCmgr(0, [`+CMGR: "REC UNREAD","${number}",,"26/12/01,10:15:00+32"`, text])?.text).toBe('５ 很满意');
    expect(parseCmgr(4, [])).toBeUndefined();
  });

  it('parseCmgl pairs each header with its text line, an empty text included', () => {
    const a = toUcs2Hex('+8613800000001');
    const b = toUcs2Hex('+8613800000002');
    const list = parseCmgl([`+CMGL: 1,"REC UNREAD","${a}","","26/12/01,10:15:00+32"`, toUcs2Hex('5'), `+CMGL: 2,"REC READ","${b}",,"26/12/01,10:16:00+32"`, `+CMGL: 3,"REC READ","${b}",,"26/12/01,10:17:00+32"`, toUcs2Hex('TD')]);
    expect(list.map((m) => [m.index, m.number, m.text])).toEqual([
      [1, '+8613800000001', '5'],
      [2, '+8613800000002', ''],
      [3, '+8613800000002', 'TD'],
    ]);
  });

  it('parseCsq gives rssi and dBm, null dBm for 99 (unknown)', () => {
    expect(parseCsq(['+CSQ: 20,0'])).toEqual({ rssi: 20, dbm: -73 });
    expect(parseCsq(['+CSQ: 99,99'])).toEqual({ rssi: 99, dbm: null });
    expect(parseCsq(['+CSQ: 45,0'])).toBeUndefined();
    expect(parseCsq([])).toBeUndefined();
  });
});

describe('AtLineReader', () => {
  const answer = '\r\nRDY\r\n\r\n+CMTI: "SM",3\r\nAT+CMGS="0031"\r\r\n> ';
  const expected: AtToken[] = [
    { kind: 'line', text: 'RDY' },
    { kind: 'line', text: '+CMTI: "SM",3' },
    { kind: 'line', text: 'AT+CMGS="0031"' },
    { kind: 'prompt' },
  ];

  it('finds the same lines and the prompt however the bytes are split', () => {
    for (let cut = 0; cut <= answer.length; cut++) {
      const reader = new AtLineReader();
      const tokens = [...reader.push(bytes(answer.slice(0, cut))), ...reader.push(bytes(answer.slice(cut)))];
      // a cut between '>' and ' ' shows the prompt at the '>' (a bare '>' prompts too)
      expect(tokens, `cut at ${cut}`).toEqual(expected);
    }
  });

  it('drops noise bytes and over-long lines, counts them, and reads on', () => {
    const reader = new AtLineReader();
    const noise = Uint8Array.from([0x00, 0xff, 0x80, 0x07, ...bytes('O'), 0xfe, ...bytes('K\r\n')]);
    expect(reader.push(noise)).toEqual([{ kind: 'line', text: 'OK' }]);
    expect(reader.dropped).toBe(4 + 1);
    const long = bytes(`${'A'.repeat(5000)}\r\nOK\r\n`);
    expect(reader.push(long)).toEqual([{ kind: 'line', text: 'OK' }]);
    expect(reader.dropped).toBeGreaterThan(4096);
  });

  it('never throws on any bytes, and still reads a clean answer afterwards', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (garbage) => {
        const reader = new AtLineReader();
        reader.push(garbage);
        return JSON.stringify(reader.push(bytes('\r\nOK\r\n'))).includes('"OK"');
      }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const minimal = { hallId: '430300-001', adminToken: 'hall-test-token-7f3a9c' };

function refusal(value: unknown): ConfigError {
  try {
    parseConfig(value, '/srv/hub');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('hub configuration (PROTOCOL 6)', () => {
  it('accepts the example of PROTOCOL 6 and fills defaults', () => {
    const config = parseConfig(
      {
        hallId: '430300-001',
        hallName: '湘潭市政务服务中心',
        areaCode: '430300',
        deptCode: '',
        dataDir: './data/hub',
        adminToken: 'Qm9vdHN0cmFwLXRva2VuLTI0',
        http: { host: '127.0.0.1', port: 8080 },
        platform: { url: 'mqtt://127.0.0.1:1883', username: null, password: null, caFile: null },
        devices: { serial: [{ path: '/dev/ttyACM0', baudRate: 115200 }], discover: { serial: true, hid: true }, autoPair: false },
        windows: [{ id: 'A01', name: 'A01 综合受理', deviceId: null }],
      },
      '/srv/hub',
    );
    expect(config.dataDir).toBe('/srv/hub/data/hub');
    expect(config.evaluation.misuseWindowS).toBe(10);
    expect(parseConfig(minimal).http).toEqual({ host: '127.0.0.1', port: 8080 });
  });

  it.each([
    [{ ...minimal, http: { host: 'x', prot: 1 } }, 'http.prot', /unknown key "http.prot"/],
    [{ ...minimal, colour: 'red' }, 'colour', /unknown key "colour"/],
    [{ adminToken: 'hall-test-token-7f3a9c' }, 'hallId', /missing required "hallId"/],
    [{ ...minimal, http: { port: '8080' } }, 'http.port', /"http.port"/],
    [{ ...minimal, windows: [{ id: 'A/1' }] }, 'windows.0.id', /"windows.0.id" must not contain/],
    [{ ...minimal, platform: { url: 'http://x' } }, 'platform.url', /"platform.url" must start with/],
    [{ ...minimal, windows: [{ id: 'A01' }, { id: 'A01' }] }, 'windows.1.id', /repeats window A01/],
    // the contract's example token, and short ones, are refused (a guessable admin token)
    [{ ...minimal, adminToken: 'change-me' }, 'adminToken', /"adminToken" must be at least 16 characters/],
    [{ ...minimal, adminToken: 'change-me-please-really' }, 'adminToken', /"adminToken" is a placeholder/],
    [{ ...minimal, adminToken: 'aaaaaaaaaaaaaaaaaaaa' }, 'adminToken', /"adminToken" is a placeholder/],
    // a wrong type is named with the type expected, never called missing
    [{ ...minimal, http: { port: '8080' } }, 'http.port', /"http.port" must be number, not a string/],
    [{ ...minimal, hallName: 42 }, 'hallName', /"hallName" must be string, not a number/],
    // one evaluator serves one window
    [{ ...minimal, windows: [{ id: 'A01', deviceId: 'EV-1' }, { id: 'A02', deviceId: 'EV-1' }] }, 'windows.1.deviceId', /already paired to A01/],
  ])('refuses %j naming %s', (value, key, message) => {
    const error = refusal(value);
    expect(error.key).toBe(key);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });
});

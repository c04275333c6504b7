/** docs/configuration.md is generated from the schema: the two never disagree. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configurationReference, REFERENCE_PATH } from '../scripts/config-doc.js';

describe('the configuration reference', () => {
  it('is what the schema generates (run `npm run config-doc` after changing hub/config.ts)', () => {
    expect(readFileSync(REFERENCE_PATH, 'utf8')).toBe(configurationReference());
  });

  it('gives every key a type, a default or "required", and a meaning; includes the revision-2 keys', () => {
    const rows = configurationReference().split('\n').filter((l) => l.startsWith('| `'));
    expect(rows.length).toBeGreaterThan(40);
    for (const row of rows) {
      const [, key, type, dflt, meaning] = row.split(' | ').map((c) => c.trim());
      expect(type, `${key}: type`).toBeTruthy();
      expect(dflt, `${key}: default`).toBeTruthy();
      expect(meaning, `${key}: meaning`).toBeTruthy();
    }
    for (const key of ['sms.modem.path', 'sms.delayS', 'sms.quietHours', 'sms.replyWindowH', 'qr.baseUrl', 'qr.secret', 'qr.validH', 'calendar.workdays', 'calendar.holidays', 'storage.minFreeMiB', 'storage.retentionDays', 'sync.republishAfterS']) {
      expect(rows.some((r) => r.startsWith(`| \`${key}\``)), key).toBe(true);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { DASHBOARD_LEAVES, dashboardMaySubscribe, hallTopics, parseHallTopic, parsePlatformTopic, platformTopics, tabletMayPublish, tabletMaySubscribe } from './index.js';

describe('hall topics (PROTOCOL 2)', () => {
  it('build and parse', () => {
    expect(hallTopics.publicConfig('430300-001')).toBe('hall/430300-001/public/config');
    const t = hallTopics.tablet('430300-001', 'TAB-01', 'evaluations');
    expect(t).toBe('hall/430300-001/tablets/TAB-01/evaluations');
    expect(parseHallTopic(t)).toEqual({ hallId: '430300-001', kind: 'tablet', tabletId: 'TAB-01', leaf: 'evaluations' });
    expect(parseHallTopic('hall/H/public/config')).toEqual({ hallId: 'H', kind: 'public', leaf: 'config' });
    expect(parseHallTopic('hall/H/tablets/T/other')).toBeUndefined();
    expect(parseHallTopic('hcp/v1/H/status')).toBeUndefined();
  });

  it('refuse ids that would break a topic', () => {
    expect(() => hallTopics.tablet('H', 'a/b', 'acks')).toThrow(/tabletId/);
    expect(() => hallTopics.publicConfig('+')).toThrow(/hallId/);
  });

  it('a tablet publishes only under its own root', () => {
    expect(tabletMayPublish('H', 'T1', 'hall/H/tablets/T1/evaluations')).toBe(true);
    expect(tabletMayPublish('H', 'T1', 'hall/H/tablets/T2/evaluations')).toBe(false);
    expect(tabletMayPublish('H', 'T1', 'hall/H/tablets/T10/evaluations')).toBe(false);
    expect(tabletMayPublish('H', 'T1', 'hall/H/public/config')).toBe(false);
    expect(tabletMayPublish('H', 'T1', 'hall/H2/tablets/T1/evaluations')).toBe(false);
    expect(tabletMayPublish('H', 'T1', 'hall/H/tablets/T1/#')).toBe(false);
  });

  it('a tablet subscribes only to its own root and public', () => {
    expect(tabletMaySubscribe('H', 'T1', 'hall/H/tablets/T1/#')).toBe(true);
    expect(tabletMaySubscribe('H', 'T1', 'hall/H/tablets/T1/session')).toBe(true);
    expect(tabletMaySubscribe('H', 'T1', 'hall/H/public/#')).toBe(true);
    expect(tabletMaySubscribe('H', 'T1', 'hall/H/#')).toBe(false);
    expect(tabletMaySubscribe('H', 'T1', 'hall/H/tablets/+/acks')).toBe(false);
    expect(tabletMaySubscribe('H', 'T1', 'hall/H/tablets/T1x/#')).toBe(false);
    expect(tabletMaySubscribe('H', 'T1', '#')).toBe(false);
    expect(tabletMaySubscribe('H', 'T1', '$share/g/hall/H/public/#')).toBe(false);
  });
});

describe('dashboard topics (extension of PROTOCOL 2)', () => {
  it('build and parse', () => {
    for (const leaf of DASHBOARD_LEAVES) {
      const topic = hallTopics.dashboard('430300-001', leaf);
      expect(topic).toBe(`hall/430300-001/dashboard/${leaf}`);
      expect(parseHallTopic(topic)).toEqual({ hallId: '430300-001', kind: 'dashboard', leaf });
    }
    expect(hallTopics.dashboardFilter('H')).toBe('hall/H/dashboard/#');
    expect(parseHallTopic('hall/H/dashboard/other')).toBeUndefined();
    expect(() => hallTopics.dashboard('a/b', 'evaluation')).toThrow(/hallId/);
  });

  it('a dashboard subscribes only to the dashboard topics and public', () => {
    expect(dashboardMaySubscribe('H', hallTopics.dashboardFilter('H'))).toBe(true);
    expect(dashboardMaySubscribe('H', 'hall/H/dashboard/evaluation')).toBe(true);
    expect(dashboardMaySubscribe('H', 'hall/H/public/config')).toBe(true);
    expect(dashboardMaySubscribe('H', 'hall/H/tablets/T1/#')).toBe(false);
    expect(dashboardMaySubscribe('H', 'hall/H/#')).toBe(false);
    expect(dashboardMaySubscribe('H', 'hall/H2/dashboard/#')).toBe(false);
    expect(dashboardMaySubscribe('H', 'hall/H/dashboardx/#')).toBe(false);
    expect(dashboardMaySubscribe('H', '$share/g/hall/H/dashboard/#')).toBe(false);
  });
});

describe('platform topics (PROTOCOL 3)', () => {
  it('build and parse', () => {
    expect(platformTopics.evaluations('430300-001')).toBe('hcp/v1/430300-001/evaluations');
    expect(platformTopics.device('H', 'HCP5-1')).toBe('hcp/v1/H/devices/HCP5-1');
    expect(platformTopics.shared('ingest', platformTopics.allHalls('evaluations'))).toBe('$share/ingest/hcp/v1/+/evaluations');
    expect(parsePlatformTopic('hcp/v1/H/receipts')).toEqual({ hallId: 'H', leaf: 'receipts' });
    expect(parsePlatformTopic('hcp/v1/H/devices/D1')).toEqual({ hallId: 'H', leaf: 'devices', deviceId: 'D1' });
    expect(parsePlatformTopic('hcp/v2/H/receipts')).toBeUndefined();
    expect(parsePlatformTopic('hcp/v1/H/unknown')).toBeUndefined();
  });
});

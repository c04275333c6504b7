/**
 * MQTT topics of the hall (PROTOCOL 2) and of the city platform (PROTOCOL 3): builders,
 * parsers, and the tablet and dashboard ACL decisions. Pure: no broker here.
 */

/** A topic segment must not be empty or hold MQTT's separators or wildcards. */
export function isTopicSegment(value: string): boolean {
  return value.length > 0 && !/[/+#\u0000]/.test(value);
}

function segment(name: string, value: string): string {
  if (!isTopicSegment(value)) throw new TypeError(`${name} cannot be an MQTT topic segment: ${JSON.stringify(value)}`);
  return value;
}

export const TABLET_LEAVES = ['session', 'evaluations', 'acks', 'suggestions'] as const;
export type TabletLeaf = (typeof TABLET_LEAVES)[number];

/**
 * Extension of PROTOCOL 2: what the hub tells the hall's dashboards, live, under
 * `hall/{hallId}/dashboard/`: a committed evaluation, a 差评 handling step, a tablet's
 * suggestion (payloads: `DashboardPayload` in `api.ts`). Only the `dashboard` login (the admin
 * token) may subscribe; nobody but the hub publishes there.
 */
export const DASHBOARD_LEAVES = ['evaluation', 'handling', 'suggestion'] as const;
export type DashboardLeaf = (typeof DASHBOARD_LEAVES)[number];

export const hallTopics = {
  root: (hallId: string) => `hall/${segment('hallId', hallId)}`,
  publicConfig: (hallId: string) => `hall/${segment('hallId', hallId)}/public/config`,
  tablet: (hallId: string, tabletId: string, leaf: TabletLeaf) =>
    `hall/${segment('hallId', hallId)}/tablets/${segment('tabletId', tabletId)}/${leaf}`,
  /** The filter a tablet's own topics fall under. */
  tabletFilter: (hallId: string, tabletId: string) => `hall/${segment('hallId', hallId)}/tablets/${segment('tabletId', tabletId)}/#`,
  publicFilter: (hallId: string) => `hall/${segment('hallId', hallId)}/public/#`,
  dashboard: (hallId: string, leaf: DashboardLeaf) => `hall/${segment('hallId', hallId)}/dashboard/${leaf}`,
  /** The filter every dashboard topic falls under. */
  dashboardFilter: (hallId: string) => `hall/${segment('hallId', hallId)}/dashboard/#`,
};

export type HallTopic =
  | { hallId: string; kind: 'public'; leaf: string }
  | { hallId: string; kind: 'tablet'; tabletId: string; leaf: TabletLeaf }
  | { hallId: string; kind: 'dashboard'; leaf: DashboardLeaf };

/** Parses a concrete hall topic; `undefined` for anything outside PROTOCOL 2 and the dashboard's. */
export function parseHallTopic(topic: string): HallTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== 'hall' || !parts[1] || !isTopicSegment(parts[1])) return undefined;
  const hallId = parts[1];
  if (parts.length === 4 && parts[2] === 'public' && parts[3] && isTopicSegment(parts[3])) return { hallId, kind: 'public', leaf: parts[3] };
  if (parts.length === 4 && parts[2] === 'dashboard' && DASHBOARD_LEAVES.includes(parts[3] as DashboardLeaf)) return { hallId, kind: 'dashboard', leaf: parts[3] as DashboardLeaf };
  if (parts.length === 5 && parts[2] === 'tablets' && parts[3] && isTopicSegment(parts[3])) {
    const leaf = parts[4] as TabletLeaf;
    if (TABLET_LEAVES.includes(leaf)) return { hallId, kind: 'tablet', tabletId: parts[3], leaf };
  }
  return undefined;
}

function under(prefix: string, topicOrFilter: string): boolean {
  return topicOrFilter === prefix || topicOrFilter.startsWith(`${prefix}/`);
}

/** PROTOCOL 2: a tablet publishes only under `hall/{hallId}/tablets/{tabletId}/#`. */
export function tabletMayPublish(hallId: string, tabletId: string, topic: string): boolean {
  return !/[+#]/.test(topic) && under(`hall/${hallId}/tablets/${tabletId}`, topic) && topic !== `hall/${hallId}/tablets/${tabletId}`;
}

/** PROTOCOL 2: a tablet subscribes only under its own root and `hall/{hallId}/public/#`. */
export function tabletMaySubscribe(hallId: string, tabletId: string, filter: string): boolean {
  if (filter.startsWith('$share/')) return false;
  return under(`hall/${hallId}/tablets/${tabletId}`, filter) || under(`hall/${hallId}/public`, filter);
}

/** A dashboard subscribes only under `hall/{hallId}/dashboard/` and `hall/{hallId}/public/`. */
export function dashboardMaySubscribe(hallId: string, filter: string): boolean {
  if (filter.startsWith('$share/')) return false;
  return under(`hall/${hallId}/dashboard`, filter) || under(`hall/${hallId}/public`, filter);
}

export const PLATFORM_LEAVES = ['evaluations', 'receipts', 'alerts', 'status', 'config', 'handling', 'channel-ratings', 'channel-acks'] as const;
export type PlatformLeaf = (typeof PLATFORM_LEAVES)[number];

export const platformTopics = {
  root: (hallId: string) => `hcp/v1/${segment('hallId', hallId)}`,
  leaf: (hallId: string, leaf: PlatformLeaf) => `hcp/v1/${segment('hallId', hallId)}/${leaf}`,
  evaluations: (hallId: string) => platformTopics.leaf(hallId, 'evaluations'),
  receipts: (hallId: string) => platformTopics.leaf(hallId, 'receipts'),
  alerts: (hallId: string) => platformTopics.leaf(hallId, 'alerts'),
  status: (hallId: string) => platformTopics.leaf(hallId, 'status'),
  config: (hallId: string) => platformTopics.leaf(hallId, 'config'),
  handling: (hallId: string) => platformTopics.leaf(hallId, 'handling'),
  /** [r2] QR ratings the platform collected (PROTOCOL 8), and the hub's answers to them. */
  channelRatings: (hallId: string) => platformTopics.leaf(hallId, 'channel-ratings'),
  channelAcks: (hallId: string) => platformTopics.leaf(hallId, 'channel-acks'),
  device: (hallId: string, deviceId: string) => `hcp/v1/${segment('hallId', hallId)}/devices/${segment('deviceId', deviceId)}`,
  /** Every hall's `leaf`, for a platform ingest: `hcp/v1/+/evaluations`. */
  allHalls: (leaf: PlatformLeaf | 'devices/+') => `hcp/v1/+/${leaf}`,
  /** A shared subscription, so platform ingest workers split the load (MQTT 5 and Mosquitto). */
  shared: (group: string, filter: string) => `$share/${segment('group', group)}/${filter}`,
};

export type PlatformTopic = { hallId: string; leaf: PlatformLeaf } | { hallId: string; leaf: 'devices'; deviceId: string };

/** Parses a concrete platform topic; `undefined` for anything outside PROTOCOL 3. */
export function parsePlatformTopic(topic: string): PlatformTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== 'hcp' || parts[1] !== 'v1' || !parts[2] || !isTopicSegment(parts[2])) return undefined;
  const hallId = parts[2];
  if (parts.length === 4 && PLATFORM_LEAVES.includes(parts[3] as PlatformLeaf)) return { hallId, leaf: parts[3] as PlatformLeaf };
  if (parts.length === 5 && parts[3] === 'devices' && parts[4] && isTopicSegment(parts[4])) return { hallId, leaf: 'devices', deviceId: parts[4] };
  return undefined;
}

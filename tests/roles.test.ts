/**
 * People and roles (PROTOCOL 5 [r2]): queue, handler, manager and admin tokens, created by API
 * and CLI, shown once, stored hashed, revocable; each route open only to its roles (401 without
 * a token, 403 for a wrong role); actions audited with the person's name.
 */
import mqtt from 'mqtt';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { commitEvaluation } from '../hub/evaluations.js';
import { Hub } from '../hub/hub.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';
import { runTs } from './support/processes.js';

const cleanups = cleanupsAfterEach();
const ADMIN = 'roles-test-admin-token';
type Json = any;

let hub: Hub;
let dir: string;
beforeEach(async () => {
  dir = tempDir(cleanups, 'roles');
  hub = new Hub({ config: parseConfig({ hallId: 'H', adminToken: ADMIN, dataDir: dir, http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, windows: [{ id: 'A01' }] }) });
  await hub.start();
  cleanups.push(() => hub.stop());
});

async function api(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, json: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
}

async function person(name: string, role: string): Promise<string> {
  const r = await api('POST', '/api/users', ADMIN, { name, role });
  expect(r.status).toBe(201);
  expect(r.json).toMatchObject({ name, role, token: expect.any(String) });
  return r.json.token as string;
}

describe('roles', () => {
  it('each role calls its routes and gets 403 elsewhere; no token is 401', async () => {
    await hub.store.submit((db) => commitEvaluation(db, evaluation({ id: 'EV-1-1', level: 1 }), { attachWithinMs: 0, misuseWindowMs: 0 }));
    const queue = await person('叫号系统', 'queue');
    const handler = await person('张处理', 'handler');
    const manager = await person('王主任', 'manager');
    const expectations: [string, string, unknown, Record<string, number>][] = [
      ['POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-1' }, { none: 401, queue: 202, handler: 403, manager: 403, admin: 202 }],
      ['PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S1', staffName: '李明' }, { none: 401, queue: 200, handler: 403, manager: 403, admin: 200 }],
      ['GET', '/api/dissatisfied', undefined, { none: 401, queue: 403, handler: 200, manager: 200, admin: 200 }],
      ['GET', '/api/stats', undefined, { none: 401, queue: 403, handler: 403, manager: 200, admin: 200 }],
      ['GET', '/api/export?format=csv', undefined, { none: 401, queue: 403, handler: 403, manager: 200, admin: 200 }],
      ['GET', '/api/devices', undefined, { none: 401, queue: 403, handler: 403, manager: 403, admin: 200 }],
      ['GET', '/api/users', undefined, { none: 401, queue: 403, handler: 403, manager: 403, admin: 200 }],
      ['GET', '/api/health', undefined, { none: 200, queue: 200, handler: 200, manager: 200, admin: 200 }],
    ];
    const tokens: Record<string, string | null> = { none: null, queue, handler, manager, admin: ADMIN };
    for (const [method, path, body, statuses] of expectations) {
      for (const [who, status] of Object.entries(statuses)) expect((await api(method, path, tokens[who]!, body)).status, `${who} ${method} ${path}`).toBe(status);
    }
    expect((await api('GET', '/api/me', handler)).json).toEqual({ name: '张处理', role: 'handler' });
  });

  it('a handling step is recorded by the caller\'s name, tokens are shown once and stored hashed, a revoked token is refused', async () => {
    await hub.store.submit((db) => commitEvaluation(db, evaluation({ id: 'EV-1-1', level: 2 }), { attachWithinMs: 0, misuseWindowMs: 0 }));
    const handler = await person('张处理', 'handler');
    const step = await api('POST', '/api/evaluations/EV-1-1/handling', handler, { step: 'acknowledged' });
    expect(step.status).toBe(201);
    const steps = hub.store.read((db) => db.prepare('SELECT by FROM handling').all());
    expect(steps).toEqual([{ by: '张处理' }]);
    expect(hub.store.read((db) => db.prepare(`SELECT actor FROM audit WHERE action = 'handling'`).all())).toEqual([{ actor: '张处理' }]);
    // the list never shows a token; the database keeps only a hash
    const list = await api('GET', '/api/users', ADMIN);
    expect(JSON.stringify(list.json)).not.toContain(handler);
    expect(JSON.stringify(hub.store.read((db) => db.prepare('SELECT * FROM users').all()))).not.toContain(handler);
    expect((await api('POST', '/api/users', ADMIN, { name: '张处理', role: 'manager' })).status).toBe(409);
    expect((await api('DELETE', `/api/users/${encodeURIComponent('张处理')}`, ADMIN)).status).toBe(200);
    expect((await api('GET', '/api/dissatisfied', handler)).status).toBe(401);
    expect((await api('POST', '/api/users', ADMIN, { name: 'x', role: 'root' })).status).toBe(400);
  });

  it('the dashboard\'s MQTT login takes a handler or manager token, never a queue token', async () => {
    const handler = await person('张处理', 'handler');
    const queue = await person('叫号系统', 'queue');
    const ok = await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: 'dashboard', password: handler, reconnectPeriod: 0, protocolVersion: 4 });
    cleanups.push(() => ok.endAsync(true));
    await expect(mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: 'dashboard', password: queue, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 })).rejects.toThrow();
  });

  it('the CLI creates, lists and revokes people', async () => {
    const file = join(dir, 'hall.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify({ hallId: 'H', adminToken: ADMIN, dataDir: join(dir, 'cli-data'), windows: [{ id: 'A01' }] }));
    const add = runTs('hub/cli.ts', ['--config', file, 'users', 'add', 'queue-1', 'queue']);
    expect(await add.exited(30_000)).toBe(0);
    expect(add.stdout.join('\n')).toMatch(/queue-1 \(queue\): token, shown once: \S{20,}/);
    const list = runTs('hub/cli.ts', ['--config', file, 'users']);
    expect(await list.exited(30_000)).toBe(0);
    expect(list.stdout.join('\n')).toMatch(/queue-1\s+queue/);
    const revoke = runTs('hub/cli.ts', ['--config', file, 'users', 'revoke', 'queue-1']);
    expect(await revoke.exited(30_000)).toBe(0);
    expect(revoke.stdout.join('\n')).toBe('revoked queue-1');
  });
});

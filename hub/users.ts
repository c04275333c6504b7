/**
 * People and roles (PROTOCOL 5 [r2]): `queue`, `handler`, `manager`, `admin`, one token per
 * person, shown once and stored as a SHA-256 hash, revocable. The configured `adminToken` is
 * the person `admin` of role admin. Every step and every contact reveal is audited with the
 * person's name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isoNow, type Clock } from './clock.js';
import { ADMINS, HttpError, ROLES, adminCheck, readJson, validate, type Person, type Role, type Route } from './http.js';
import { audit, type Store } from './store.js';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
const NAME = /^[\p{L}\p{N} ._-]{1,32}$/u;

export interface UserRow {
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

export class Users {
  private readonly isAdminToken: (token: string) => boolean;

  constructor(
    private readonly store: Store,
    adminToken: string,
    private readonly clock: Clock,
  ) {
    this.isAdminToken = adminCheck(adminToken);
  }

  /** The person a bearer token belongs to, or undefined (revoked tokens included). */
  authenticate(token: string): Person | undefined {
    if (this.isAdminToken(token)) return { name: 'admin', role: 'admin' };
    const row = this.store.read((db) => db.prepare('SELECT name, role FROM users WHERE token_hash = ? AND revoked_at IS NULL').get(hash(token))) as Person | undefined;
    return row ? { name: row.name, role: row.role } : undefined;
  }

  /** Creates a person with a fresh token, returned once. */
  async create(name: string, role: Role, by: string): Promise<{ name: string; role: Role; token: string }> {
    if (!NAME.test(name)) throw new HttpError(400, 'invalid-field', 'name: 1 to 32 letters, digits, spaces, . _ -');
    const token = randomBytes(24).toString('base64url');
    const at = isoNow(this.clock);
    const created = await this.store.submit((db) => {
      const existing = db.prepare('SELECT revoked_at FROM users WHERE name = ?').get(name) as { revoked_at: string | null } | undefined;
      if (existing && existing.revoked_at === null) return false;
      db.prepare('INSERT OR REPLACE INTO users (name, role, token_hash, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)').run(name, role, hash(token), at, by);
      audit(db, by, 'user-created', { name, role }, at);
      return true;
    });
    if (!created) throw new HttpError(409, 'exists', `${name} already has a token; revoke it first`);
    return { name, role, token };
  }

  list(): UserRow[] {
    return this.store.read((db) => db.prepare('SELECT name, role, created_at AS createdAt, created_by AS createdBy, revoked_at AS revokedAt FROM users ORDER BY name').all()) as UserRow[];
  }

  async revoke(name: string, by: string): Promise<boolean> {
    const at = isoNow(this.clock);
    return this.store.submit((db) => {
      const n = db.prepare('UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(at, name).changes;
      if (n > 0) audit(db, by, 'user-revoked', { name }, at);
      return n > 0;
    });
  }

  /** `POST /api/users`, `GET /api/users`, `DELETE /api/users/{name}`: admin only. */
  routes(): Route[] {
    const body = z.object({ name: z.string().min(1).max(32), role: z.enum(ROLES) }).strict();
    return [
      {
        method: 'POST',
        pattern: /^\/api\/users$/,
        who: ADMINS,
        handler: async ({ req, person }) => {
          const b = validate(body, await readJson(req));
          return { status: 201, body: await this.create(b.name, b.role, person!.name) };
        },
      },
      { method: 'GET', pattern: /^\/api\/users$/, who: ADMINS, handler: async () => ({ body: { users: this.list() } }) },
      {
        method: 'DELETE',
        pattern: /^\/api\/users\/([^/]+)$/,
        who: ADMINS,
        handler: async ({ params, person }) => {
          let name: string;
          try {
            name = decodeURIComponent(params[0]!);
          } catch {
            throw new HttpError(400, 'invalid-field', 'name: malformed percent-encoding');
          }
          if (!(await this.revoke(name, person!.name))) throw new HttpError(404, 'unknown-user', `no active user ${JSON.stringify(name)}`);
          return { body: { name, revoked: true } };
        },
      },
    ];
  }
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { openDatabase, type Db } from '../store/database.js';
import { DEFAULT_OUTLIER_POLICY, ENVOY_DEFAULTS } from './policy.js';
import { PolicyStore } from './policy-store.js';

let dir: string;
let db: Db;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-policy-'));
  db = openDatabase({ path: join(dir, 'm.db'), logger: silentLogger });
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('PolicyStore', () => {
  it('answers Meshdeck\u2019s default for a service with nothing saved', () => {
    const store = new PolicyStore(db, 'm1');
    expect(store.get('checkout')).toEqual({ service: 'checkout', source: 'default', preset: 'meshdeck', policy: DEFAULT_OUTLIER_POLICY, updatedAt: null, updatedBy: null });
  });

  it('saves a preset with overrides, per mesh, and keeps it across a reopen', () => {
    const store = new PolicyStore(db, 'm1');
    const saved = store.set('checkout', 'envoy', { ejection: { baseMs: 15_000 } }, 'alice', 1234);
    expect(saved).toMatchObject({ source: 'saved', preset: 'envoy', updatedAt: 1234, updatedBy: 'alice' });
    expect(saved.policy.intervalMs).toBe(ENVOY_DEFAULTS.intervalMs);
    expect(saved.policy.ejection.baseMs).toBe(15_000);
    expect(saved.policy.ejection.maxEjectionPercent).toBe(ENVOY_DEFAULTS.ejection.maxEjectionPercent);
    expect(new PolicyStore(db, 'm1').get('checkout').policy).toEqual(saved.policy);
    expect(new PolicyStore(db, 'm2').get('checkout').source).toBe('default');
  });

  it('refuses an invalid policy naming the field, and keeps the saved one', () => {
    const store = new PolicyStore(db, 'm1');
    store.set('checkout', 'meshdeck', { intervalMs: 2000 }, 'alice');
    let error: unknown;
    try {
      store.set('checkout', 'meshdeck', { ejection: { baseMs: 60_000, maxMs: 1000 } }, 'bob');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toContain('ejection.maxMs');
    expect(store.get('checkout').policy.intervalMs).toBe(2000);
  });

  it('resets to the default', () => {
    const store = new PolicyStore(db, 'm1');
    store.set('checkout', 'envoy', {}, 'alice');
    expect(store.reset('checkout').source).toBe('default');
  });
});

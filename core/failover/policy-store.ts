/**
 * Per-service failover policies of one mesh: Meshdeck's default unless an operator saved one,
 * starting from a preset (Meshdeck's defaults or Envoy's) with overrides. Cached in memory:
 * the engine reads a policy on every evaluation.
 */
import type { Db } from '../store/database.js';
import { DEFAULT_OUTLIER_POLICY, ENVOY_DEFAULTS, parseOutlierPolicy, type OutlierPolicy } from './policy.js';

export const POLICY_PRESETS = { meshdeck: DEFAULT_OUTLIER_POLICY, envoy: ENVOY_DEFAULTS } as const;
export type PolicyPreset = keyof typeof POLICY_PRESETS;

export interface ServicePolicy {
  service: string;
  /** `default`: nothing saved for this service. */
  source: 'default' | 'saved';
  preset: PolicyPreset;
  policy: OutlierPolicy;
  updatedAt: number | null;
  updatedBy: string | null;
}

type Json = Record<string, unknown>;

/** Overrides win, object by object; arrays and values are replaced. */
function merge(base: Json, overrides: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? merge(current as Json, value as Json)
        : value;
  }
  return out;
}

export class PolicyStore {
  private readonly cache = new Map<string, ServicePolicy>();
  private readonly listeners = new Set<(service: string) => void>();

  constructor(
    private readonly db: Db,
    private readonly mesh: string,
  ) {}

  /** Called after a service's policy was saved or reset. */
  onChange(listener: (service: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(service: string): ServicePolicy {
    const cached = this.cache.get(service);
    if (cached) return cached;
    const row = this.db
      .prepare('SELECT preset, policy, updated_at, updated_by FROM failover_policies WHERE mesh = ? AND service = ?')
      .get(this.mesh, service) as { preset: PolicyPreset; policy: string; updated_at: number; updated_by: string } | undefined;
    const result: ServicePolicy = row
      ? { service, source: 'saved', preset: row.preset, policy: parseOutlierPolicy(JSON.parse(row.policy)), updatedAt: row.updated_at, updatedBy: row.updated_by }
      : { service, source: 'default', preset: 'meshdeck', policy: DEFAULT_OUTLIER_POLICY, updatedAt: null, updatedBy: null };
    this.cache.set(service, result);
    return result;
  }

  /** Saves `preset` + `overrides` (validated: a bad field throws ValidationError naming it). */
  set(service: string, preset: PolicyPreset, overrides: Json, actor: string, now = Date.now()): ServicePolicy {
    const policy = parseOutlierPolicy(merge(structuredClone(POLICY_PRESETS[preset]) as Json, overrides));
    this.db
      .prepare(
        `INSERT INTO failover_policies (mesh, service, preset, policy, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (mesh, service) DO UPDATE SET preset = excluded.preset, policy = excluded.policy,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      )
      .run(this.mesh, service, preset, JSON.stringify(policy), now, actor);
    this.cache.delete(service);
    for (const listener of this.listeners) listener(service);
    return this.get(service);
  }

  /** Back to Meshdeck's default. */
  reset(service: string): ServicePolicy {
    this.db.prepare('DELETE FROM failover_policies WHERE mesh = ? AND service = ?').run(this.mesh, service);
    this.cache.delete(service);
    for (const listener of this.listeners) listener(service);
    return this.get(service);
  }
}

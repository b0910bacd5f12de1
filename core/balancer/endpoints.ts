/**
 * The endpoint set every balancer keeps: validation, a canonical order (by id, so every sidecar
 * given the same set builds the same structures whatever order the control plane listed it in),
 * and change detection, so an update with an unchanged set rebuilds nothing.
 */
import { ValidationError, type FieldIssue } from '../lib/errors.js';
import type { Endpoint } from './types.js';

export const MAX_ENDPOINTS = 1 << 20;
export const MAX_PRIORITY = 255;
const MAX_ISSUES = 20;

/** What a replace() changed: the previous id → index map, to carry per-endpoint state over. */
export interface EndpointChange {
  readonly previous: ReadonlyMap<string, number>;
}

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function priorityOf(e: Endpoint): number {
  return e.priority ?? 0;
}

/** Field-level problems of an endpoint list; empty when valid. */
export function endpointIssues(next: unknown): FieldIssue[] {
  if (!Array.isArray(next)) return [{ path: 'endpoints', message: 'must be an array of endpoints' }];
  if (next.length > MAX_ENDPOINTS) return [{ path: 'endpoints', message: `at most ${MAX_ENDPOINTS} endpoints` }];
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  for (let k = 0; k < next.length && issues.length < MAX_ISSUES; k++) {
    const e: unknown = next[k];
    const at = (field: string) => `endpoints[${k}]${field}`; // built only for an issue
    if (typeof e !== 'object' || e === null) {
      issues.push({ path: at(''), message: 'must be an object' });
      continue;
    }
    const { id, zone, weight, healthy, priority } = e as Record<string, unknown>;
    if (typeof id !== 'string' || id.length === 0) issues.push({ path: at('.id'), message: 'must be a non-empty string' });
    else if (seen.has(id)) issues.push({ path: at('.id'), message: `duplicate id "${id}"` });
    else seen.add(id);
    if (typeof zone !== 'string') issues.push({ path: at('.zone'), message: 'must be a string' });
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      issues.push({ path: at('.weight'), message: 'must be a finite number >= 0' });
    }
    if (typeof healthy !== 'boolean') issues.push({ path: at('.healthy'), message: 'must be a boolean' });
    if (priority !== undefined && !(Number.isInteger(priority) && (priority as number) >= 0 && (priority as number) <= MAX_PRIORITY)) {
      issues.push({ path: at('.priority'), message: `must be an integer 0..${MAX_PRIORITY}` });
    }
  }
  return issues;
}

export class EndpointSet {
  /** The caller's endpoint objects, in canonical (id) order. Index = "endpoint index". */
  refs: Endpoint[] = [];
  ids: string[] = [];
  weights: number[] = [];
  healthy: boolean[] = [];
  priorities: number[] = [];
  indexOf: ReadonlyMap<string, number> = new Map();
  /** inputPos[k] = index of the k-th endpoint of the last input, for the cheap positional check. */
  private inputPos: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  /** Selectable = healthy with weight > 0. */
  isSelectable(index: number): boolean {
    return this.healthy[index] === true && this.weights[index]! > 0;
  }

  /** Indices of the selectable endpoints, ascending (id order). */
  selectable(): Int32Array<ArrayBuffer> {
    let n = 0;
    for (let i = 0; i < this.ids.length; i++) if (this.isSelectable(i)) n++;
    const out = new Int32Array(n);
    n = 0;
    for (let i = 0; i < this.ids.length; i++) if (this.isSelectable(i)) out[n++] = i;
    return out;
  }

  /**
   * Adopts `next`. Returns null when nothing that matters changed (same ids, weights, health and
   * priorities, in any order) — the new objects are adopted, nothing else moves — or the change.
   * Throws ValidationError, leaving the set as it was, when `next` is invalid.
   */
  replace(next: readonly Endpoint[]): EndpointChange | null {
    if (this.sameAsLastInput(next)) {
      for (let k = 0; k < next.length; k++) this.refs[this.inputPos[k]!] = next[k]!;
      return null;
    }
    const issues = endpointIssues(next);
    if (issues.length > 0) throw new ValidationError('Invalid endpoint set', issues, { endpoints: Array.isArray(next) ? next.length : null });

    const order = next.map((_, k) => k).sort((a, b) => byId(next[a]!.id, next[b]!.id));
    const inputPos: number[] = new Array<number>(next.length);
    for (let i = 0; i < order.length; i++) inputPos[order[i]!] = i;
    this.inputPos = inputPos;

    let same = order.length === this.ids.length;
    for (let i = 0; same && i < order.length; i++) {
      const e = next[order[i]!]!;
      same = e.id === this.ids[i] && e.weight === this.weights[i] && e.healthy === this.healthy[i] && priorityOf(e) === this.priorities[i];
    }
    const refs = order.map((k) => next[k]!);
    this.refs = refs;
    if (same) return null;

    const previous = this.indexOf;
    this.ids = refs.map((e) => e.id);
    this.weights = refs.map((e) => e.weight);
    this.healthy = refs.map((e) => e.healthy);
    this.priorities = refs.map(priorityOf);
    this.indexOf = new Map(this.ids.map((id, i) => [id, i]));
    return { previous };
  }

  /** True when `next` lists exactly the endpoints of the last input, field for field, in the same order. */
  private sameAsLastInput(next: readonly Endpoint[]): boolean {
    if (!Array.isArray(next) || next.length !== this.inputPos.length) return false;
    for (let k = 0; k < next.length; k++) {
      const e: Endpoint | null | undefined = next[k];
      if (typeof e !== 'object' || e === null) return false;
      const i = this.inputPos[k]!;
      if (e.id !== this.ids[i] || e.weight !== this.weights[i] || e.healthy !== this.healthy[i] || priorityOf(e) !== this.priorities[i]) {
        return false;
      }
    }
    return true;
  }
}

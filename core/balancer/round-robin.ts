/**
 * round-robin: rotates over the selectable endpoints (healthy, weight > 0) in id order; weights
 * beyond 0 are ignored. The rotation starts at a random position, so sidecars started together do
 * not all send their first requests to the same endpoint. After a change the cursor stays where it
 * was (modulo the new size).
 */
import { EndpointSet } from './endpoints.js';
import type { Balancer, Endpoint, PickContext, RandomSource } from './types.js';

export class RoundRobinBalancer implements Balancer {
  readonly kind = 'round-robin' as const;
  private readonly set = new EndpointSet();
  private rotation = new Int32Array(0);
  private cursor = -1;

  constructor(private readonly random: RandomSource) {}

  update(endpoints: readonly Endpoint[]): void {
    if (this.set.replace(endpoints) === null) return;
    this.rotation = this.set.selectable();
    const n = this.rotation.length;
    if (n === 0) return;
    this.cursor = this.cursor < 0 ? Math.min(n - 1, Math.floor(this.random() * n)) : this.cursor % n;
  }

  pick(_ctx: PickContext): Endpoint | null {
    const n = this.rotation.length;
    if (n === 0) return null;
    const i = this.rotation[this.cursor]!;
    this.cursor = this.cursor + 1 === n ? 0 : this.cursor + 1;
    return this.set.refs[i]!;
  }

  onStart(_id: string, _now: number): void {}

  onEnd(_id: string, _now: number, _latencyMs: number, _ok: boolean): void {}
}

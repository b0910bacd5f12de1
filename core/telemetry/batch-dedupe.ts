/**
 * Telemetry batch ids seen lately, per instance. An agent publishes its batches with confirms
 * and sends again what was not confirmed when its connection dropped; a batch the broker had
 * already taken then arrives twice, with the same CloudEvents id. Batches of one agent arrive in
 * order, so only its last few can come again: keeping the last `perInstance` ids of each instance
 * finds every such copy at a fixed cost per instance.
 */
export class RecentBatchIds {
  private readonly byInstance = new Map<string, string[]>();

  constructor(
    private readonly perInstance = 16,
    /** Instances remembered at most (the longest silent are forgotten first). */
    private readonly maxInstances = 100_000,
  ) {}

  /** True unless `id` is among the last ids seen from this instance; records it. */
  firstSeen(instance: string, id: string): boolean {
    let ids = this.byInstance.get(instance);
    if (ids?.includes(id)) return false;
    if (ids) this.byInstance.delete(instance);
    else {
      ids = [];
      if (this.byInstance.size >= this.maxInstances) this.byInstance.delete(this.byInstance.keys().next().value as string);
    }
    ids.push(id);
    if (ids.length > this.perInstance) ids.shift();
    // Re-inserted: the map's order is least recently heard first.
    this.byInstance.set(instance, ids);
    return true;
  }

  get instances(): number {
    return this.byInstance.size;
  }
}

/**
 * Telemetry batch ids seen lately, per instance. An agent publishes its batches with confirms
 * and sends again what was not confirmed when its connection dropped; a batch the broker had
 * already taken then arrives twice, with the same CloudEvents id. Batches of one agent arrive in
 * order, so only its last few can come again: keeping the last `perInstance` ids of each instance
 * finds every such copy at a fixed cost per instance.
 */
export class RecentBatchIds {
  /** service → instance → its last ids (a ring) and when it was last heard (a counter). */
  private readonly byService = new Map<string, Map<string, Heard>>();
  private size = 0;
  private clock = 0;

  constructor(
    private readonly perInstance = 16,
    /** Instances remembered at most (the longest silent are forgotten first). */
    private readonly maxInstances = 100_000,
  ) {}

  /**
   * True unless `id` is among the last ids seen from this instance; records it. Keyed by service,
   * then instance (no key string built per batch), the ids in a ring.
   */
  firstSeen(service: string, instanceId: string, id: string): boolean {
    let instances = this.byService.get(service);
    if (!instances) this.byService.set(service, (instances = new Map()));
    let heard = instances.get(instanceId);
    if (heard) {
      if (heard.ids.includes(id)) return false;
    } else {
      if (this.size >= this.maxInstances) this.forgetOldest();
      instances.set(instanceId, (heard = { ids: [], next: 0, at: 0 }));
      this.size += 1;
    }
    if (heard.ids.length < this.perInstance) heard.ids.push(id);
    else {
      heard.ids[heard.next] = id;
      heard.next = (heard.next + 1) % this.perInstance;
    }
    heard.at = ++this.clock;
    return true;
  }

  get instances(): number {
    return this.size;
  }

  /** Forgets the instances heard from least recently: one, or a sixteenth of them at a large size (one scan). */
  private forgetOldest(): void {
    const all: Array<[number, Map<string, Heard>, string]> = [];
    for (const instances of this.byService.values()) for (const [instanceId, heard] of instances) all.push([heard.at, instances, instanceId]);
    all.sort((a, b) => a[0] - b[0]);
    for (const [, instances, instanceId] of all.slice(0, Math.max(1, this.maxInstances >> 4))) {
      instances.delete(instanceId);
      this.size -= 1;
    }
    for (const [service, instances] of this.byService) if (instances.size === 0) this.byService.delete(service);
  }
}

interface Heard {
  ids: string[];
  /** Where the next id goes once `ids` is full. */
  next: number;
  at: number;
}

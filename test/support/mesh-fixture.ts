/**
 * The common ground of mesh integration tests: a core (headless, on a SQLite file of its own)
 * connected to a RabbitMQ vhost of its own, sidecars in front of echo services, and one close()
 * that stops them all and removes the vhost and the files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sidecar } from '../../agent/sidecar/sidecar.js';
import { createMeshCore, type MeshCore, type MeshCoreOptions } from '../../core/app.js';
import type { BackoffPolicy } from '../../core/bus/connection.js';
import { silentLogger } from '../../core/lib/log.js';
import type { MeshRuntime } from '../../core/mesh/mesh-runtime.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort, type EchoService } from './mesh.js';
import { createTestVhost, type TestVhost } from './vhost.js';

export interface FixtureOptions {
  /** Where the mesh runs (default: a fresh vhost on the shared broker), e.g. a PrivateBroker's. */
  vhost?: TestVhost;
  /** Reconnect back-off of the core and of the sidecars (default: DEFAULT_BACKOFF). */
  backoff?: BackoffPolicy;
  /** More options for the core (e.g. broker polling, incident rules). */
  core?: Partial<Omit<MeshCoreOptions, 'databasePath' | 'commandLineBroker'>>;
}

export class MeshFixture {
  readonly sidecars: Sidecar[] = [];
  /** Echo services the test started; closed with the fixture. */
  readonly echoes: EchoService[] = [];

  private constructor(
    readonly vhost: TestVhost,
    readonly dir: string,
    readonly core: MeshCore,
    private readonly backoff?: BackoffPolicy,
  ) {}

  /** A core on a fresh vhost, once it runs and leads its mesh. */
  static async start(name: string, options: FixtureOptions = {}): Promise<MeshFixture> {
    const vhost = options.vhost ?? createTestVhost(name);
    const dir = mkdtempSync(join(tmpdir(), `${name}-`));
    const core = createMeshCore({
      databasePath: join(dir, 'm.db'),
      secrets: memorySecretStore('t'),
      logger: silentLogger,
      host: 'headless',
      commandLineBroker: vhost.url,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...options.core,
    });
    const fixture = new MeshFixture(vhost, dir, core, options.backoff);
    await eventually(() => fixture.mesh()?.active && fixture.mesh().control.leadership().isLeader, 'core running and leading', 15_000);
    return fixture;
  }

  mesh(): MeshRuntime {
    return this.core.meshes.get('cli')!;
  }

  /** A started sidecar (zone-a unless told) in front of `upstream` (heartbeat 250 ms, per-try timeout 1 s unless told). */
  async sidecar(service: string, upstream: string, instanceId: string, balancer?: 'round-robin', zone = 'zone-a', timeoutMs = 1000): Promise<Sidecar> {
    const s = new Sidecar({
      service,
      zone,
      broker: this.vhost.url,
      upstream,
      listenPort: await freePort(),
      instanceId,
      heartbeatIntervalMs: 250,
      timeoutMs,
      logger: silentLogger,
      ...(balancer ? { balancer } : {}),
      ...(this.backoff ? { backoff: this.backoff } : {}),
    });
    await s.start();
    this.sidecars.push(s);
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sidecars) await s.stop();
    for (const e of this.echoes) await e.close();
    await this.core.close();
    this.vhost.remove();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

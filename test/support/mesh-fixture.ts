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
import { silentLogger } from '../../core/lib/log.js';
import type { MeshRuntime } from '../../core/mesh/mesh-runtime.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort, type EchoService } from './mesh.js';
import { createTestVhost, type TestVhost } from './vhost.js';

export class MeshFixture {
  readonly sidecars: Sidecar[] = [];
  /** Echo services the test started; closed with the fixture. */
  readonly echoes: EchoService[] = [];

  private constructor(
    readonly vhost: TestVhost,
    readonly dir: string,
    readonly core: MeshCore,
  ) {}

  /** A core on a fresh vhost, once it runs and leads its mesh. */
  static async start(name: string, options: Partial<Omit<MeshCoreOptions, 'databasePath' | 'commandLineBroker'>> = {}): Promise<MeshFixture> {
    const vhost = createTestVhost(name);
    const dir = mkdtempSync(join(tmpdir(), `${name}-`));
    const core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url, ...options });
    const fixture = new MeshFixture(vhost, dir, core);
    await eventually(() => fixture.mesh()?.active && fixture.mesh().control.leadership().isLeader, 'core running and leading', 15_000);
    return fixture;
  }

  mesh(): MeshRuntime {
    return this.core.meshes.get('cli')!;
  }

  /** A started sidecar in zone-a in front of `upstream` (heartbeat 250 ms, per-try timeout 1 s). */
  async sidecar(service: string, upstream: string, instanceId: string, balancer?: 'round-robin'): Promise<Sidecar> {
    const s = new Sidecar({
      service,
      zone: 'zone-a',
      broker: this.vhost.url,
      upstream,
      listenPort: await freePort(),
      instanceId,
      heartbeatIntervalMs: 250,
      timeoutMs: 1000,
      logger: silentLogger,
      ...(balancer ? { balancer } : {}),
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

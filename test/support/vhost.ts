/**
 * A RabbitMQ virtual host of its own for a test, so what it sees of the mesh is only what it
 * started (the broker is shared by every suite running in parallel).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

export interface TestVhost {
  name: string;
  /** amqp URL for guest/guest on this vhost. */
  url: string;
  remove(): void;
}

export function createTestVhost(prefix = 'meshdeck-test'): TestVhost {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  execFileSync('rabbitmqctl', ['add_vhost', name], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['set_permissions', '-p', name, 'guest', '.*', '.*', '.*'], { stdio: 'ignore' });
  return {
    name,
    url: `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(name)}`,
    remove() {
      try {
        execFileSync('rabbitmqctl', ['delete_vhost', name], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    },
  };
}

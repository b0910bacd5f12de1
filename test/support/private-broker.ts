/**
 * A private, throwaway RabbitMQ node for chaos tests that must stop the broker or raise its
 * resource alarms: the shared node on 127.0.0.1:5672 serves every other suite and is never
 * stopped or alarmed.
 *
 * The node runs the installed RabbitMQ (/usr/lib/rabbitmq/bin, the scripts behind the
 * /usr/sbin wrappers, which would switch to the rabbitmq user and its cookie) as the current
 * user, with everything in a temporary directory: its own HOME (so its own Erlang cookie), node
 * name `meshdeck-chaos-<pid>-<n>@localhost`, AMQP and distribution ports picked free on
 * 127.0.0.1, data (mnesia), logs, a config file without the system's listener, an empty plugins
 * file (no management), and an empty env file so /etc/rabbitmq/rabbitmq-env.conf (which names the
 * shared node) is not read. `destroy()` kills the node's process group and removes the directory;
 * it also runs when the test process exits, so a failing test leaves nothing behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { probeConnection } from '../../core/bus/connection.js';
import { eventually, freePort } from './mesh.js';
import type { TestVhost } from './vhost.js';

const run = promisify(execFile);
const BIN = '/usr/lib/rabbitmq/bin';
let count = 0;

export class PrivateBroker {
  private server: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly onExit = () => this.killNow();
  /** When an AMQP handshake last succeeded for the first time after a start (ms since the epoch). */
  acceptingSince = 0;

  private constructor(
    readonly dir: string,
    readonly nodename: string,
    readonly port: number,
    readonly distPort: number,
  ) {}

  /** Starts a fresh node and resolves once it accepts AMQP connections (the first boot takes 10–30 s on a busy machine). */
  static async start(timeoutMs = 90_000): Promise<PrivateBroker> {
    const dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-broker-'));
    count += 1;
    const broker = new PrivateBroker(dir, `meshdeck-chaos-${process.pid}-${count}@localhost`, await freePort(), await freePort());
    process.once('exit', broker.onExit);
    writeFileSync(join(dir, 'rabbitmq.conf'), [`listeners.tcp.1 = 127.0.0.1:${broker.port}`, 'loopback_users = none', 'log.console = false', ''].join('\n'));
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    try {
      await broker.startNode(timeoutMs);
    } catch (err) {
      await broker.destroy();
      throw err;
    }
    return broker;
  }

  /** amqp URL for guest/guest on the default vhost. */
  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}/%2F`;
  }

  /** The default vhost in the TestVhost shape (the whole node is the test's own; nothing to remove). */
  vhost(): TestVhost {
    return { name: '/', url: this.url, remove: () => undefined };
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** The environment of the node and of rabbitmqctl talking to it. */
  private env(): NodeJS.ProcessEnv {
    const d = this.dir;
    return {
      ...process.env,
      HOME: d,
      RABBITMQ_CONF_ENV_FILE: join(d, 'rabbitmq-env.conf'),
      RABBITMQ_NODENAME: this.nodename,
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(d, 'mnesia'),
      RABBITMQ_LOG_BASE: join(d, 'log'),
      RABBITMQ_CONFIG_FILE: join(d, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(d, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(d, 'pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
  }

  /** rabbitmqctl against this node only; returns its standard output. */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run(join(BIN, 'rabbitmqctl'), ['-n', this.nodename, ...args], { env: this.env(), encoding: 'utf8', timeout: 60_000 });
    return stdout;
  }

  /** Starts the node's Erlang VM (again, on the same data) and waits until it accepts AMQP. */
  async startNode(timeoutMs = 90_000): Promise<void> {
    if (this.server) throw new Error('the private broker is already running');
    const log = openSync(join(this.dir, 'server.log'), 'a');
    const server = spawn(join(BIN, 'rabbitmq-server'), [], { env: this.env(), cwd: this.dir, detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    this.server = server;
    this.exited = new Promise<void>((resolve) =>
      server.once('exit', () => {
        if (this.server === server) this.server = null;
        resolve();
      }),
    );
    await this.waitForAmqp(timeoutMs);
  }

  /** Stops the whole node (`rabbitmqctl stop`) and waits for its VM to exit. */
  async stopNode(): Promise<void> {
    if (!this.server) return;
    await this.ctl('stop');
    await this.exited;
  }

  /** Stops the RabbitMQ application, the VM stays: listeners close, every connection is dropped. */
  async stopApp(): Promise<void> {
    await this.ctl('stop_app');
  }

  /** Starts the application again and waits until it accepts AMQP (probing while rabbitmqctl still runs). */
  async startApp(timeoutMs = 60_000): Promise<void> {
    await Promise.all([this.ctl('start_app'), this.waitForAmqp(timeoutMs)]);
  }

  /** Until an AMQP handshake on the node succeeds (a listening port alone is not enough). */
  async waitForAmqp(timeoutMs: number): Promise<void> {
    this.acceptingSince = await eventually(
      async () => {
        if (!this.server) throw new Error(`the node exited; see ${join(this.dir, 'server.log')}`);
        const started = Date.now();
        const probe = await probeConnection({ hostname: '127.0.0.1', port: this.port, vhost: '/', username: 'guest', password: 'guest', heartbeat: 0, tls: false, connectionName: 'private-broker probe' }, 2000);
        return probe.ok ? started + probe.latencyMs : 0;
      },
      `the private broker ${this.nodename} accepting AMQP on port ${this.port}`,
      timeoutMs,
      100,
    );
  }

  /** Kills the node (whole process group) without waiting. */
  private killNow(): void {
    const server = this.server;
    if (!server?.pid) return;
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Kills the node if it still runs and removes its directory. Safe to call more than once. */
  async destroy(): Promise<void> {
    process.off('exit', this.onExit);
    if (this.server) {
      this.killNow();
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The bounds of a RabbitMQ stream read over AMQP 0-9-1: how many messages it keeps (the
 * `message_count` of a passive queue.declare, which for a stream is its committed length, as the
 * broker's queue metrics last saw it) and its first offset (the offset of the first message a
 * consumer attached at `first` receives). first + count − 1 is the tail. The first offset only
 * moves when retention drops a segment, so it is read again only every `firstEveryMs`.
 */
import type { Connection } from 'rabbitmq-client';
import type { Logger } from '../lib/log.js';

export interface StreamBounds {
  first: number;
  count: number;
}

export class StreamBoundsReader {
  private first: number | null = null;
  private firstReadAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly connection: Connection,
    private readonly stream: string,
    private readonly options: { firstEveryMs?: number; timeoutMs?: number } = {},
  ) {}

  async read(now = Date.now()): Promise<StreamBounds> {
    const { messageCount } = await this.connection.queueDeclare({ queue: this.stream, passive: true });
    if (messageCount === 0) return { first: this.first ?? 0, count: 0 };
    if (this.first === null || now - this.firstReadAt >= (this.options.firstEveryMs ?? 60_000)) {
      this.first = await this.readFirst();
      this.firstReadAt = now;
    }
    return { first: this.first, count: messageCount };
  }

  /** Attaches at `first` with a prefetch of 1, takes the first delivery's offset and leaves. */
  private async readFirst(): Promise<number> {
    const channel = await this.connection.acquire();
    try {
      await channel.basicQos({ prefetchCount: 1 });
      let resolve!: (offset: number) => void;
      const first = new Promise<number>((r) => (resolve = r));
      const { consumerTag } = await channel.basicConsume({ queue: this.stream, arguments: { 'x-stream-offset': 'first' } }, (message) =>
        resolve(Number(message.headers?.['x-stream-offset'] ?? 0)),
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<number>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message from stream ${this.stream} within ${this.options.timeoutMs ?? 5000} ms`)), this.options.timeoutMs ?? 5000);
      });
      try {
        return await Promise.race([first, timeout]);
      } finally {
        clearTimeout(timer);
        await channel.basicCancel(consumerTag).catch(() => undefined);
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }
}

/**
 * Reads the bounds of `stream` every `everyMs` (the first reading after `everyMs` too: by then a
 * resumed consumer has processed its first batch) and hands them to `onBounds`; a failed reading
 * is logged at debug level and tried again at the next tick. Returns a stop function.
 */
export function pollStreamBounds(
  connection: Connection,
  stream: string,
  onBounds: (bounds: StreamBounds, at: number) => void,
  options: { everyMs?: number; logger?: Logger; now?: () => number } = {},
): () => void {
  const reader = new StreamBoundsReader(connection, stream);
  const now = options.now ?? Date.now;
  let busy = false;
  let stopped = false;
  const poll = () => {
    if (busy || stopped) return;
    busy = true;
    reader
      .read(now())
      .then((bounds) => {
        if (!stopped) onBounds(bounds, now());
      })
      .catch((err: unknown) => options.logger?.debug('stream bounds not read', { stream, err }))
      .finally(() => (busy = false));
  };
  // At once, then every interval: a console catching up on a backlog shows it from its start,
  // not a second later (the reader may have taken a small backlog by then).
  poll();
  const timer = setInterval(poll, options.everyMs ?? 1000);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

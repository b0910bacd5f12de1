/**
 * Reads a RabbitMQ stream (over AMQP 0-9-1) from a given offset on a raw channel, with a
 * prefetch window and batched acknowledgements (one multiple-ack per batch, not one per
 * message), and reports the last processed offset after each batch so the caller can store
 * it in the same transaction as the data it derived.
 */
import type { AsyncMessage, Channel, Connection } from 'rabbitmq-client';
import type { Logger } from '../lib/log.js';

export type StreamStart = number | 'first' | 'last' | 'next';

export interface StreamConsumerOptions {
  stream: string;
  /** Where to begin: a stored offset + 1, or first/last/next. Read on every (re)connection. */
  start: () => StreamStart;
  /** Handles one message; throwing is logged and the message is skipped (the caller dead-letters). */
  onMessage: (message: AsyncMessage, offset: number) => void;
  /** Called after a batch is handled and acknowledged, with the last offset in it. */
  onBatch?: (lastOffset: number, size: number) => void;
  logger: Logger;
  prefetch?: number;
  /** Max messages per batch before an ack goes out. */
  batchSize?: number;
  /** Max time a batch waits before it is closed. */
  batchMs?: number;
}

export interface StreamConsumerHandle {
  stop(): Promise<void>;
}

export async function consumeStream(connection: Connection, options: StreamConsumerOptions): Promise<StreamConsumerHandle> {
  const prefetch = options.prefetch ?? 2000;
  const batchSize = options.batchSize ?? Math.max(1, Math.floor(prefetch / 2));
  const batchMs = options.batchMs ?? 50;
  const channel: Channel = await connection.acquire();
  await channel.basicQos({ prefetchCount: prefetch });
  let pendingTag = 0;
  let pendingCount = 0;
  let lastOffset = -1;
  let timer: NodeJS.Timeout | null = null;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pendingCount === 0 || !channel.active) return;
    channel.basicAck({ deliveryTag: pendingTag, multiple: true });
    const size = pendingCount;
    pendingCount = 0;
    options.onBatch?.(lastOffset, size);
  };

  const start = options.start();
  const { consumerTag } = await channel.basicConsume(
    { queue: options.stream, arguments: { 'x-stream-offset': start } },
    (message) => {
      const offset = Number(message.headers?.['x-stream-offset'] ?? -1);
      try {
        options.onMessage(message, offset);
      } catch (err) {
        options.logger.error('stream message handler failed', { stream: options.stream, offset, err });
      }
      lastOffset = offset;
      pendingTag = message.deliveryTag;
      pendingCount += 1;
      if (pendingCount >= batchSize) flush();
      else timer ??= setTimeout(flush, batchMs);
    },
  );
  options.logger.info('consuming stream', { stream: options.stream, from: start });

  return {
    async stop() {
      flush();
      if (channel.active) {
        await channel.basicCancel(consumerTag).catch(() => undefined);
        await channel.close().catch(() => undefined);
      }
    },
  };
}

/**
 * Poison messages go to meshdeck.dead-letter with the reason in a header, never crash a consumer
 * and never block its queue.
 */
import type { AsyncMessage, Publisher } from 'rabbitmq-client';
import { serializeJson } from '../protocol/json-limits.js';
import { DEAD_LETTER_HEADERS, EXCHANGES } from '../protocol/topology.js';
import type { Logger } from '../lib/log.js';

export interface DeadLetterer {
  (message: Pick<AsyncMessage, 'body' | 'exchange' | 'routingKey' | 'headers' | 'contentType'>, reason: string): Promise<void>;
}

export function createDeadLetterer(publisher: Publisher, consumer: string, logger: Logger): DeadLetterer {
  return async (message, reason) => {
    const body = Buffer.isBuffer(message.body) ? message.body : typeof message.body === 'string' ? Buffer.from(message.body) : reserialize(message.body);
    logger.warn('message dead-lettered', { consumer, reason, exchange: message.exchange, routingKey: message.routingKey, bytes: body.length });
    try {
      await publisher.send(
        {
          exchange: EXCHANGES.deadLetter,
          routingKey: '',
          durable: true,
          contentType: message.contentType ?? 'application/octet-stream',
          headers: {
            ...(message.headers ?? {}),
            [DEAD_LETTER_HEADERS.reason]: reason.slice(0, 1024),
            [DEAD_LETTER_HEADERS.exchange]: message.exchange ?? '',
            [DEAD_LETTER_HEADERS.routingKey]: message.routingKey ?? '',
            [DEAD_LETTER_HEADERS.consumer]: consumer,
            [DEAD_LETTER_HEADERS.at]: new Date().toISOString(),
          },
        },
        body,
      );
    } catch (err) {
      // Losing a poison message is better than stopping the consumer; say so loudly.
      logger.error('could not dead-letter a message; it is dropped', { consumer, reason, err });
    }
  };
}

/**
 * A body the client parsed (application/json) back to bytes, without recursion: a hostile body
 * can nest thousands of levels. What cannot be serialised is kept as a description.
 */
function reserialize(body: unknown): Buffer {
  const text = serializeJson(body ?? null);
  return Buffer.from(text.ok ? text.text : `(body not serialisable: ${text.reason})`);
}

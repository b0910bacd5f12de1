/**
 * Broker names used only between cores (agents never see them): leader election, leader
 * announcements and operator actions forwarded by followers. Every core declares them on each
 * session (declarations are idempotent; the arguments are constants so every core declares
 * the same queue the same way). See core/control/README.md.
 */

/**
 * Single-active-consumer queue: every core consumes it, RabbitMQ delivers to one of them only.
 * Every core publishes a small "tick" to it every tick interval; whoever receives ticks is the
 * active consumer, i.e. the leader.
 */
export const LEADER_QUEUE = 'meshdeck.leader';
export const LEADER_QUEUE_ARGS = {
  'x-single-active-consumer': true,
  // Ticks carry a per-message expiration; this caps the queue if something goes wrong anyway.
  'x-max-length': 1000,
  'x-overflow': 'drop-head',
} as const;

/** Fanout exchange on which the leader announces itself every tick; each core reads it from its own exclusive queue. */
export const LEADERSHIP_EXCHANGE = 'meshdeck.leadership';

/** Durable queue of operator actions created on followers; consumed by the leader only. */
export const REQUESTS_QUEUE = 'meshdeck.control.requests';
export const REQUESTS_QUEUE_ARGS = { 'x-max-length': 10_000, 'x-overflow': 'reject-publish' } as const;

/** Binding key of each core's own live (exclusive, no-ack) feed of control acks. */
export const ACK_FEED_BINDING_KEY = 'ack.#';

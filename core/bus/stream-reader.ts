/**
 * A lean reader of one RabbitMQ stream over AMQP 0-9-1, on a connection of its own: the
 * telemetry stream's transport, where every microsecond per message counts.
 *
 * The general client (rabbitmq-client) decodes every frame into objects, spreads each delivery's
 * method and header fields into a new message object, concatenates its body and hands it over
 * with a `setImmediate` of its own, after decoding everything else in the socket's buffer. This
 * reader parses frames straight from the socket's chunks and calls `onMessage` as each delivery
 * completes: a single-frame body is a view of the chunk (no copy); of the content header only the
 * `x-stream-offset` header is read (the rest, wanted only to dead-letter a message, is decoded
 * when asked for); acknowledgements are batched (one multiple-ack per batch).
 *
 * What it speaks: the connection handshake (PLAIN), heartbeats both ways, one channel with
 * basic.qos / basic.consume (`x-stream-offset`) / basic.deliver / basic.ack, and the closes a
 * broker sends (connection.close, channel.close, basic.cancel), each ending the reader with a
 * typed error. It never reconnects: its owner (the core's broker session) starts a new one.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectOptions } from './profiles.js';
import type { StreamStart } from './stream-consumer.js';

/** What ended a reader: a refused handshake, a broker's close, a lost socket, a missed heartbeat. */
export class StreamReaderError extends Error {
  constructor(
    message: string,
    readonly code: 'handshake' | 'connection-closed' | 'channel-closed' | 'cancelled' | 'socket' | 'heartbeat' | 'protocol' | 'timeout',
    /** The broker's reply code (e.g. 404, 403, 320), when it sent one. */
    readonly replyCode: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StreamReaderError';
  }
}

/** One delivery. `body` may be a view of the socket's chunk: copy it to keep it past `onMessage`. */
export interface StreamDelivery {
  body: Buffer;
  offset: number;
  deliveryTag: number;
  exchange: string;
  routingKey: string;
  contentType: string | undefined;
  /** The message's AMQP headers, decoded on first use. */
  readonly headers: Record<string, unknown> | undefined;
}

export interface StreamReaderOptions {
  connection: Pick<ConnectOptions, 'hostname' | 'port' | 'vhost' | 'username' | 'password' | 'heartbeat' | 'tls' | 'connectionName'>;
  stream: string;
  start: StreamStart;
  /** Handles one delivery; throwing is the owner's to log (it is reported, and the reader goes on). */
  onMessage: (delivery: StreamDelivery) => void;
  /** Called after a batch is acknowledged, with the last offset in it. */
  onBatch?: (lastOffset: number, size: number) => void;
  /** Called once when the reader ends on its own (not after `stop()`), with why. */
  onEnd?: (err: StreamReaderError) => void;
  /** A handler that threw: the reader goes on with the next delivery. */
  onHandlerError?: (err: unknown, offset: number) => void;
  prefetch?: number;
  /** Max deliveries per batch before an ack goes out (default prefetch / 2). */
  batchSize?: number;
  /** Max time a batch waits before it is acknowledged (ms, default 50). */
  batchMs?: number;
  /** Handshake timeout (ms, default 10 000). */
  timeoutMs?: number;
  /**
   * Asked before each batch's ack: false holds it (and `onBatch`) until `resume()`, and the broker
   * stops delivering once `prefetch` deliveries are unacknowledged — flow control for an owner
   * that cannot keep up (the messages wait on the broker, not in memory). Default: always.
   */
  mayAck?: () => boolean;
}

export interface StreamReader {
  /** Acknowledges what was handled, closes the connection (bounded wait) and ends the reader. */
  stop(): Promise<void>;
  /** Sends the acks `mayAck` held (when it now allows them), so that the broker delivers again. */
  resume(): void;
}

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;
const FRAME_END = 0xce;
const FRAME_MAX = 131_072;

// class << 16 | method
const CONNECTION_START = (10 << 16) | 10;
const CONNECTION_START_OK = (10 << 16) | 11;
const CONNECTION_TUNE = (10 << 16) | 30;
const CONNECTION_TUNE_OK = (10 << 16) | 31;
const CONNECTION_OPEN = (10 << 16) | 40;
const CONNECTION_OPEN_OK = (10 << 16) | 41;
const CONNECTION_CLOSE = (10 << 16) | 50;
const CONNECTION_CLOSE_OK = (10 << 16) | 51;
const CONNECTION_BLOCKED = (10 << 16) | 60;
const CONNECTION_UNBLOCKED = (10 << 16) | 61;
const CHANNEL_OPEN = (20 << 16) | 10;
const CHANNEL_OPEN_OK = (20 << 16) | 11;
const CHANNEL_CLOSE = (20 << 16) | 40;
const CHANNEL_CLOSE_OK = (20 << 16) | 41;
const BASIC_QOS = (60 << 16) | 10;
const BASIC_QOS_OK = (60 << 16) | 11;
const BASIC_CONSUME = (60 << 16) | 20;
const BASIC_CONSUME_OK = (60 << 16) | 21;
const BASIC_CANCEL = (60 << 16) | 30;
const BASIC_DELIVER = (60 << 16) | 60;
const BASIC_ACK = (60 << 16) | 80;

const OFFSET_KEY = Buffer.from('x-stream-offset', 'latin1');

/** Opens a connection, consumes `stream` from `start` and resolves once the broker confirmed the consumer. */
export function readStream(options: StreamReaderOptions): Promise<StreamReader> {
  const reader = new Reader(options);
  return reader.open();
}

class Reader implements StreamReader {
  private socket: Socket | null = null;
  /** Bytes of a frame not complete yet (null: none). */
  private pending: Buffer | null = null;
  private phase: 'handshake' | 'consuming' | 'closing' | 'ended' = 'handshake';
  private heartbeatSec = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastReceived = 0;
  private lastSent = 0;
  private handshake: { resolve: (r: StreamReader) => void; reject: (e: StreamReaderError) => void; timer: NodeJS.Timeout } | null = null;
  private closed: (() => void) | null = null;
  // The delivery being assembled.
  private delivery: { tag: number; exchange: string; routingKey: string } | null = null;
  private headerSeen = false;
  private bodySize = 0;
  private offset = -1;
  private contentType: string | undefined = undefined;
  private headersRaw: Buffer | null = null;
  private chunks: Buffer[] = [];
  private received = 0;
  // Acknowledgements.
  private pendingTag = 0;
  private pendingCount = 0;
  private lastOffset = -1;
  private ackTimer: NodeJS.Timeout | null = null;
  private readonly batchSize: number;
  private readonly batchMs: number;
  private readonly prefetch: number;

  constructor(private readonly options: StreamReaderOptions) {
    this.prefetch = options.prefetch ?? 2000;
    this.batchSize = options.batchSize ?? Math.max(1, Math.floor(this.prefetch / 2));
    this.batchMs = options.batchMs ?? 50;
  }

  open(): Promise<StreamReader> {
    return new Promise((resolve, reject) => {
      const c = this.options.connection;
      const timer = setTimeout(() => this.end(new StreamReaderError(`no answer from ${c.hostname}:${c.port} within ${this.options.timeoutMs ?? 10_000} ms`, 'timeout')), this.options.timeoutMs ?? 10_000);
      this.handshake = { resolve, reject, timer };
      const socket =
        c.tls === false
          ? netConnect({ host: c.hostname, port: c.port })
          : // The profile's TLS options carry the server name to check (none for an IP address: RFC 6066).
            tlsConnect({ ...c.tls, host: c.hostname, port: c.port });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on(c.tls === false ? 'connect' : 'secureConnect', () => {
        this.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', (err) => this.end(new StreamReaderError(`${this.phase === 'handshake' ? 'could not connect to' : 'lost the connection to'} ${c.hostname}:${c.port}: ${err.message}`, 'socket', null, { cause: err })));
      socket.on('close', () => this.end(new StreamReaderError(`the broker closed the connection${this.phase === 'handshake' ? ' during the handshake (wrong credentials or vhost?)' : ''}`, this.phase === 'handshake' ? 'handshake' : 'socket')));
    });
  }

  resume(): void {
    if (this.pendingCount > 0) this.scheduleAcks();
  }

  async stop(): Promise<void> {
    if (this.phase === 'ended') return;
    this.flushAcks(true);
    if (this.phase === 'consuming' && this.socket && !this.socket.destroyed) {
      this.phase = 'closing';
      const done = new Promise<void>((resolve) => (this.closed = resolve));
      this.sendMethod(0, CONNECTION_CLOSE, (w) => w.u16(200).shortstr('stopped').u16(0).u16(0));
      const timer = setTimeout(() => this.closed?.(), 2000);
      await done;
      clearTimeout(timer);
    }
    this.finish();
  }

  // --- frames in ----------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastReceived = Date.now();
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    const length = buf.length;
    while (length - at >= 7) {
      const size = buf.readUInt32BE(at + 3);
      // Never more than the frame-max it agreed to: a larger size is not waited for.
      if (size > FRAME_MAX) return this.end(new StreamReaderError(`a frame of ${size} bytes, over the ${FRAME_MAX}-byte frame-max`, 'protocol'));
      if (length - at < size + 8) break;
      const type = buf[at]!;
      const channel = buf.readUInt16BE(at + 1);
      const start = at + 7;
      if (buf[start + size] !== FRAME_END) return this.end(new StreamReaderError(`malformed frame (type ${type}, size ${size}): no frame-end octet`, 'protocol'));
      at = start + size + 1;
      try {
        if (type === FRAME_BODY) this.onBody(buf.subarray(start, start + size));
        else if (type === FRAME_METHOD) this.onMethod(channel, buf, start, size);
        else if (type === FRAME_HEADER) this.onHeader(buf, start, size);
        else if (type !== FRAME_HEARTBEAT) throw new StreamReaderError(`unknown frame type ${type}`, 'protocol');
      } catch (err) {
        return this.end(err instanceof StreamReaderError ? err : new StreamReaderError(`could not read a frame: ${(err as Error).message}`, 'protocol', null, { cause: err }));
      }
      if (this.phase === 'ended') return;
    }
    if (at < length) this.pending = at === 0 ? buf : buf.subarray(at);
  }

  private onMethod(channel: number, buf: Buffer, start: number, size: number): void {
    const id = buf.readUInt32BE(start);
    const r = new Read(buf, start + 4, start + size);
    if (id === BASIC_DELIVER) {
      r.skip(r.u8()); // consumer tag
      const tag = Number(buf.readBigUInt64BE(r.skip(8)));
      r.skip(1); // redelivered
      const exchange = r.shortstr();
      const routingKey = r.shortstr();
      this.delivery = { tag, exchange, routingKey };
      this.headerSeen = false;
      return;
    }
    switch (id) {
      case CONNECTION_START: {
        r.skip(2); // version
        r.skipTable();
        const mechanisms = r.longstr();
        if (!mechanisms.split(' ').includes('PLAIN')) throw new StreamReaderError(`the broker offers no PLAIN login (${mechanisms})`, 'handshake');
        const c = this.options.connection;
        this.sendMethod(0, CONNECTION_START_OK, (w) =>
          w
            .table({
              product: 'Meshdeck',
              connection_name: c.connectionName,
              capabilities: { consumer_cancel_notify: true, 'connection.blocked': true, authentication_failure_close: true },
            })
            .shortstr('PLAIN')
            .longstr(Buffer.from(`\0${c.username}\0${c.password}`, 'utf8'))
            .shortstr('en_US'),
        );
        return;
      }
      case CONNECTION_TUNE: {
        r.u16(); // channel-max: one channel is all it opens
        const frameMax = r.u32();
        const serverHeartbeat = r.u16();
        const wanted = this.options.connection.heartbeat;
        this.heartbeatSec = serverHeartbeat === 0 || wanted === 0 ? Math.max(serverHeartbeat, wanted) : Math.min(serverHeartbeat, wanted);
        const max = frameMax === 0 ? FRAME_MAX : Math.min(frameMax, FRAME_MAX);
        this.sendMethod(0, CONNECTION_TUNE_OK, (w) => w.u16(1).u32(max).u16(this.heartbeatSec));
        this.sendMethod(0, CONNECTION_OPEN, (w) => w.shortstr(this.options.connection.vhost).shortstr('').u8(0));
        this.startHeartbeats();
        return;
      }
      case CONNECTION_OPEN_OK:
        this.sendMethod(1, CHANNEL_OPEN, (w) => w.shortstr(''));
        return;
      case CHANNEL_OPEN_OK:
        this.sendMethod(1, BASIC_QOS, (w) => w.u32(0).u16(this.prefetch).u8(0));
        return;
      case BASIC_QOS_OK: {
        const start = this.options.start;
        this.sendMethod(1, BASIC_CONSUME, (w) => w.u16(0).shortstr(this.options.stream).shortstr('').u8(0).table({ 'x-stream-offset': typeof start === 'number' ? BigInt(start) : start }));
        return;
      }
      case BASIC_CONSUME_OK: {
        this.phase = 'consuming';
        this.takeHandshake()?.resolve(this);
        return;
      }
      case CONNECTION_CLOSE: {
        const code = r.u16();
        const text = r.shortstr();
        this.sendMethod(0, CONNECTION_CLOSE_OK, () => undefined);
        throw new StreamReaderError(`the broker closed the connection: ${code} ${text}`, this.phase === 'handshake' ? 'handshake' : 'connection-closed', code);
      }
      case CONNECTION_CLOSE_OK:
        this.closed?.();
        return;
      case CHANNEL_CLOSE: {
        const code = r.u16();
        const text = r.shortstr();
        this.sendMethod(channel, CHANNEL_CLOSE_OK, () => undefined);
        throw new StreamReaderError(`the broker closed the channel on stream ${this.options.stream}: ${code} ${text}`, 'channel-closed', code);
      }
      case BASIC_CANCEL:
        throw new StreamReaderError(`the broker cancelled the consumer of stream ${this.options.stream} (stream deleted?)`, 'cancelled');
      case CONNECTION_BLOCKED:
      case CONNECTION_UNBLOCKED:
        // Blocks publishers only; this connection never publishes.
        return;
      default:
        // Anything else a consumer may ignore (e.g. channel.flow is not used by RabbitMQ).
        return;
    }
  }

  private onHeader(buf: Buffer, start: number, size: number): void {
    if (!this.delivery || this.headerSeen) throw new StreamReaderError('a content header without a delivery', 'protocol');
    this.headerSeen = true;
    const r = new Read(buf, start, start + size);
    r.skip(4); // class id, weight
    this.bodySize = Number(buf.readBigUInt64BE(r.skip(8)));
    // Property flags: the first word names the properties read here; more words follow while bit 0 is set.
    const flags = r.u16();
    for (let more = flags; more & 1; ) more = r.u16();
    this.contentType = flags & 0x8000 ? r.shortstr() : undefined;
    if (flags & 0x4000) r.shortstr(); // content-encoding
    this.offset = -1;
    this.headersRaw = null;
    if (flags & 0x2000) {
      const tableLength = r.u32();
      const tableStart = r.skip(tableLength);
      this.headersRaw = buf.subarray(tableStart - 4, tableStart + tableLength);
      this.offset = findOffset(buf, tableStart, tableStart + tableLength);
    }
    this.chunks.length = 0;
    this.received = 0;
    if (this.bodySize === 0) this.deliver(Buffer.alloc(0));
  }

  private onBody(payload: Buffer): void {
    if (!this.delivery || !this.headerSeen) throw new StreamReaderError('a body frame without a content header', 'protocol');
    this.received += payload.length;
    if (this.received === this.bodySize && this.chunks.length === 0) return this.deliver(payload);
    this.chunks.push(payload);
    if (this.received >= this.bodySize) this.deliver(Buffer.concat(this.chunks, this.received));
  }

  private deliver(body: Buffer): void {
    const d = this.delivery!;
    this.delivery = null;
    this.chunks.length = 0;
    const offset = this.offset;
    const delivery = new Delivery(body, offset, d.tag, d.exchange, d.routingKey, this.contentType, this.headersRaw);
    try {
      this.options.onMessage(delivery);
    } catch (err) {
      this.options.onHandlerError?.(err, offset);
    }
    this.lastOffset = offset;
    this.pendingTag = d.tag;
    this.pendingCount += 1;
    this.scheduleAcks();
  }

  /** Acks now when a batch is full, else within batchMs. */
  private scheduleAcks(): void {
    if (this.pendingCount >= this.batchSize) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), this.batchMs);
  }

  // --- frames out ---------------------------------------------------------------------------

  /** Acks the deliveries handled since the last ack (held while `mayAck` says no, unless `force`). */
  private flushAcks(force = false): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.pendingCount === 0 || this.phase !== 'consuming' || !this.socket || this.socket.destroyed) return;
    if (!force && this.options.mayAck && !this.options.mayAck()) return;
    const tag = this.pendingTag;
    this.sendMethod(1, BASIC_ACK, (w) => w.u64(tag).u8(1));
    const size = this.pendingCount;
    this.pendingCount = 0;
    this.options.onBatch?.(this.lastOffset, size);
  }

  private sendMethod(channel: number, id: number, fill: (w: Write) => unknown): void {
    const w = new Write();
    w.u8(FRAME_METHOD).u16(channel).u32(0).u32(id);
    fill(w);
    w.u8(FRAME_END);
    const frame = w.done();
    frame.writeUInt32BE(frame.length - 8, 3);
    this.write(frame);
  }

  private write(bytes: Buffer): void {
    if (!this.socket || this.socket.destroyed) return;
    this.lastSent = Date.now();
    this.socket.write(bytes);
  }

  private startHeartbeats(): void {
    if (this.heartbeatSec <= 0) return;
    const ms = this.heartbeatSec * 1000;
    this.lastReceived = this.lastSent = Date.now();
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastReceived > 2 * ms) return this.end(new StreamReaderError(`no frame from the broker for ${Math.round((now - this.lastReceived) / 1000)} s (heartbeat ${this.heartbeatSec} s)`, 'heartbeat'));
      if (now - this.lastSent >= ms / 2) this.write(Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]));
    }, ms / 4);
    this.heartbeatTimer.unref();
  }

  // --- the end ------------------------------------------------------------------------------

  /** The pending open (null once settled), its timeout cleared: whoever takes it settles it. */
  private takeHandshake(): { resolve: (r: StreamReader) => void; reject: (e: StreamReaderError) => void } | null {
    const h = this.handshake;
    this.handshake = null;
    if (h) clearTimeout(h.timer);
    return h;
  }

  /** Ends the reader on its own: rejects the open, or tells the owner. */
  private end(err: StreamReaderError): void {
    if (this.phase === 'ended') return;
    const wasStopping = this.phase === 'closing';
    this.finish();
    const h = this.takeHandshake();
    if (h) {
      h.reject(err);
      return;
    }
    if (!wasStopping) this.options.onEnd?.(err);
    else this.closed?.();
  }

  private finish(): void {
    this.phase = 'ended';
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.ackTimer = this.heartbeatTimer = null;
    this.socket?.destroy();
    this.pending = null;
  }
}

/** A delivery; its headers table (a view of the socket's chunk, never reused) is decoded on first use. */
class Delivery implements StreamDelivery {
  private decoded: Record<string, unknown> | undefined | null = null;
  constructor(
    readonly body: Buffer,
    readonly offset: number,
    readonly deliveryTag: number,
    readonly exchange: string,
    readonly routingKey: string,
    readonly contentType: string | undefined,
    private readonly headersRaw: Buffer | null,
  ) {}
  get headers(): Record<string, unknown> | undefined {
    if (this.decoded === null) this.decoded = this.headersRaw ? new Read(this.headersRaw, 0, this.headersRaw.length).table() : undefined;
    return this.decoded;
  }
}

/** The value of `x-stream-offset` in a headers table (between `at` and `end`), or -1. */
function findOffset(buf: Buffer, at: number, end: number): number {
  const r = new Read(buf, at, end);
  while (r.at < end) {
    // The key compared as bytes: no string made per header and message.
    const keyLength = r.u8();
    const keyAt = r.skip(keyLength);
    const value = r.value(r.u8());
    if (keyLength === OFFSET_KEY.length && buf.compare(OFFSET_KEY, 0, keyLength, keyAt, keyAt + keyLength) === 0) {
      return typeof value === 'bigint' || typeof value === 'number' ? Number(value) : -1;
    }
  }
  return -1;
}

/** Reads AMQP field values from a buffer. */
class Read {
  constructor(
    private readonly buf: Buffer,
    public at: number,
    private readonly end: number,
  ) {}
  /** Where the next `n` bytes end, checked against the frame's end (nothing is read). */
  private upTo(n: number): number {
    if (this.at + n > this.end) throw new StreamReaderError(`a field runs past its frame (${n} bytes at ${this.at}, frame ends at ${this.end})`, 'protocol');
    return this.at + n;
  }
  /** Moves past `n` bytes; returns where they start. */
  skip(n: number): number {
    const at = this.at;
    this.at = this.upTo(n);
    return at;
  }
  u8(): number {
    return this.buf[this.skip(1)]!;
  }
  u16(): number {
    return this.buf.readUInt16BE(this.skip(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.skip(4));
  }
  shortstr(): string {
    const n = this.u8();
    const at = this.skip(n);
    return this.buf.toString('utf8', at, at + n);
  }
  longstr(): string {
    const n = this.u32();
    const at = this.skip(n);
    return this.buf.toString('utf8', at, at + n);
  }
  skipTable(): void {
    this.skip(this.u32());
  }
  table(): Record<string, unknown> {
    const end = this.upTo(this.u32());
    const out: Record<string, unknown> = {};
    while (this.at < end) {
      const key = this.shortstr();
      out[key] = this.value(this.u8());
    }
    return out;
  }
  value(type: number): unknown {
    switch (String.fromCharCode(type)) {
      case 't':
        return this.u8() !== 0;
      case 'b':
        return this.buf.readInt8(this.skip(1));
      case 'B':
        return this.u8();
      case 's':
        return this.buf.readInt16BE(this.skip(2));
      case 'u':
        return this.u16();
      case 'I':
        return this.buf.readInt32BE(this.skip(4));
      case 'i':
        return this.u32();
      case 'l':
        return this.buf.readBigInt64BE(this.skip(8));
      case 'T':
        return Number(this.buf.readBigUInt64BE(this.skip(8)));
      case 'f':
        return this.buf.readFloatBE(this.skip(4));
      case 'd':
        return this.buf.readDoubleBE(this.skip(8));
      case 'D': {
        const scale = this.u8();
        return this.buf.readInt32BE(this.skip(4)) / 10 ** scale;
      }
      case 'S':
        return this.longstr();
      case 'x': {
        const n = this.u32();
        const at = this.skip(n);
        return Buffer.from(this.buf.subarray(at, at + n));
      }
      case 'A': {
        const end = this.upTo(this.u32());
        const out: unknown[] = [];
        while (this.at < end) out.push(this.value(this.u8()));
        return out;
      }
      case 'F':
        return this.table();
      case 'V':
        return null;
      default:
        throw new StreamReaderError(`unknown field type '${String.fromCharCode(type)}'`, 'protocol');
    }
  }
}

/** Builds AMQP method payloads. */
class Write {
  private buf = Buffer.allocUnsafe(256);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.at = this.buf.writeUInt16BE(v, this.at);
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.at = this.buf.writeUInt32BE(v, this.at);
    return this;
  }
  u64(v: number): this {
    this.room(8);
    this.at = this.buf.writeBigUInt64BE(BigInt(v), this.at);
    return this;
  }
  shortstr(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > 255) throw new StreamReaderError(`"${s.slice(0, 40)}…" is longer than 255 bytes`, 'protocol');
    this.u8(bytes.length);
    this.room(bytes.length);
    bytes.copy(this.buf, this.at);
    this.at += bytes.length;
    return this;
  }
  longstr(bytes: Buffer): this {
    this.u32(bytes.length);
    this.room(bytes.length);
    bytes.copy(this.buf, this.at);
    this.at += bytes.length;
    return this;
  }
  table(t: Record<string, unknown>): this {
    const lengthAt = this.at;
    this.u32(0);
    for (const [key, value] of Object.entries(t)) {
      this.shortstr(key);
      this.field(value);
    }
    this.buf.writeUInt32BE(this.at - lengthAt - 4, lengthAt);
    return this;
  }
  private field(v: unknown): void {
    if (typeof v === 'boolean') this.u8(0x74).u8(v ? 1 : 0);
    else if (typeof v === 'bigint') {
      this.u8(0x6c);
      this.room(8);
      this.at = this.buf.writeBigInt64BE(v, this.at);
    } else if (typeof v === 'number') this.u8(0x49).u32(v >>> 0);
    else if (typeof v === 'string') this.u8(0x53).longstr(Buffer.from(v, 'utf8'));
    else if (v && typeof v === 'object') this.u8(0x46).table(v as Record<string, unknown>);
    else this.u8(0x56);
  }
  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

/**
 * The ONE typed API of the Meshdeck core: every query, command and subscription topic, with
 * zod schemas for inputs and outputs. Both transports (Electron IPC and the headless host's
 * HTTP/WebSocket) serve exactly this contract through one router (core/api/router.ts).
 *
 * This file must stay environment-neutral (no Node, no DOM): the renderer imports its types.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------

export const ConnectionStatus = z.enum([
  'idle', // never asked to connect
  'connecting', // first attempt in progress
  'connected',
  'blocked', // broker sent connection.blocked (resource alarm): publishing is paused
  'reconnecting', // lost or not reachable; retrying with backoff
  'failed', // a non-transient refusal (credentials, vhost, TLS): no retry until asked
  'disconnected', // closed by the user
]);
export type ConnectionStatus = z.infer<typeof ConnectionStatus>;

export const ConnectionState = z.object({
  profileId: z.string(),
  status: ConnectionStatus,
  /** Consecutive failed attempts; 0 once connected. */
  attempt: z.number().int().nonnegative(),
  /** The broker's (or the socket's) own error text for the last failure. */
  error: z.string().nullable(),
  errorCode: z.string().nullable(),
  blockedReason: z.string().nullable(),
  /** When the current status began (ms since epoch). */
  since: z.number(),
  nextRetryAt: z.number().nullable(),
  connectedAt: z.number().nullable(),
});
export type ConnectionState = z.infer<typeof ConnectionState>;

const trimmed = (max: number) => z.string().trim().max(max);

export const TlsSettings = z.object({
  caFile: trimmed(4096).optional(),
  certFile: trimmed(4096).optional(),
  keyFile: trimmed(4096).optional(),
  servername: trimmed(255).optional(),
  /** Server certificate verification. On by default; turning it off is an explicit choice. */
  verify: z.boolean().default(true),
});
export type TlsSettings = z.infer<typeof TlsSettings>;

export const BrokerUrl = z
  .string()
  .trim()
  .min(1, 'URL is required')
  .max(2048)
  .refine((value) => /^amqps?:\/\/[^/\s]+/i.test(value), {
    message: 'must be an amqp:// or amqps:// URL with a host, e.g. amqp://127.0.0.1:5672',
  });

const profileFields = {
  name: trimmed(80).min(1, 'name is required'),
  url: BrokerUrl,
  /** Defaults to the URL's path, or "/". */
  vhost: trimmed(255).optional(),
  /** Defaults to the URL's user part. */
  username: trimmed(255).optional(),
  /** Omit to keep the saved password; empty string to clear it. */
  password: z.string().max(1024).optional(),
  heartbeatSeconds: z.number().int().min(0).max(3600),
  tls: TlsSettings.optional(),
  managementUrl: z
    .string()
    .trim()
    .max(2048)
    .refine((v) => v === '' || /^https?:\/\/[^/\s]+/i.test(v), { message: 'must be an http:// or https:// URL' })
    .optional(),
  autoConnect: z.boolean(),
};

export const ProfileInput = z.object({
  ...profileFields,
  heartbeatSeconds: profileFields.heartbeatSeconds.default(30),
  autoConnect: profileFields.autoConnect.default(false),
});
export type ProfileInput = z.input<typeof ProfileInput>;

/**
 * A change to a saved profile. No defaults here: zod applies defaults even to optional keys,
 * which would reset an omitted heartbeatSeconds/autoConnect instead of keeping the saved value.
 */
export const ProfilePatch = z.object(profileFields).partial();

export const PasswordStorage = z.enum(['none', 'encrypted', 'session']);

export const Profile = z.object({
  id: z.string(),
  name: z.string(),
  /** Without credentials. */
  url: z.string(),
  vhost: z.string(),
  username: z.string(),
  /** Where the password lives: encrypted at rest, in memory for this session only, or none. */
  passwordStorage: PasswordStorage,
  heartbeatSeconds: z.number().int(),
  tls: z.object({
    enabled: z.boolean(),
    caFile: z.string().nullable(),
    certFile: z.string().nullable(),
    keyFile: z.string().nullable(),
    servername: z.string().nullable(),
    verify: z.boolean(),
  }),
  managementUrl: z.string().nullable(),
  autoConnect: z.boolean(),
  /** `cli` profiles come from `--broker`/`MESHDECK_BROKER` and are read-only. */
  source: z.enum(['saved', 'cli']),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type Profile = z.infer<typeof Profile>;

export const ProfileTestResult = z.object({
  ok: z.boolean(),
  latencyMs: z.number(),
  error: z.string().nullable(),
  errorCode: z.string().nullable(),
});
export type ProfileTestResult = z.infer<typeof ProfileTestResult>;

export const SystemInfo = z.object({
  product: z.literal('Meshdeck'),
  version: z.string(),
  host: z.enum(['electron', 'headless']),
  schemaVersion: z.number().int(),
  migrations: z.array(z.object({ version: z.number().int(), name: z.string(), appliedAt: z.number() })),
  databasePath: z.string(),
  secretStore: z.object({
    kind: z.enum(['safeStorage', 'passphrase', 'memory']),
    persistent: z.boolean(),
    detail: z.string(),
  }),
  startedAt: z.number(),
  node: z.string(),
});
export type SystemInfo = z.infer<typeof SystemInfo>;

const Empty = z.object({}).strict().default({});
const ProfileRef = z.object({ id: z.string().min(1, 'id is required') }).strict();

// ---------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------

export interface MethodDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  kind: 'query' | 'command';
  summary: string;
  input: I;
  output: O;
}

const query = <I extends z.ZodType, O extends z.ZodType>(summary: string, input: I, output: O): MethodDef<I, O> => ({
  kind: 'query',
  summary,
  input,
  output,
});
const command = <I extends z.ZodType, O extends z.ZodType>(summary: string, input: I, output: O): MethodDef<I, O> => ({
  kind: 'command',
  summary,
  input,
  output,
});

export const methods = {
  'system.info': query('Versions, schema version, database path and where secrets are kept.', Empty, SystemInfo),

  'profiles.list': query('All broker connection profiles, command-line ones first.', Empty, z.array(Profile)),
  'profiles.create': command('Save a new broker connection profile.', ProfileInput.strict(), Profile),
  'profiles.update': command(
    'Change a saved profile; omitted fields keep their value.',
    z.object({ id: z.string().min(1), patch: ProfilePatch.strict() }).strict(),
    Profile,
  ),
  'profiles.delete': command('Delete a saved profile (disconnecting it first).', ProfileRef, z.object({ deleted: z.literal(true) })),
  'profiles.test': command(
    'Open and close one connection with a saved profile, or with unsaved settings, and report the outcome.',
    z.union([ProfileRef, z.object({ profile: ProfileInput.strict() }).strict()]),
    ProfileTestResult,
  ),

  'connections.list': query('Live state of every profile\u2019s broker connection.', Empty, z.array(ConnectionState)),
  'connections.connect': command('Connect a profile (retrying with backoff until connected or refused).', z.object({ profileId: z.string().min(1) }).strict(), ConnectionState),
  'connections.disconnect': command('Close a profile\u2019s connection.', z.object({ profileId: z.string().min(1) }).strict(), ConnectionState),
} as const satisfies Record<string, MethodDef>;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
export type MethodParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = z.output<Methods[M]['output']>;

// ---------------------------------------------------------------------------------------------
// Subscription topics: the subscriber receives the current value at once, then every change
// (coalesced by the transport: the newest value wins when a client falls behind).
// ---------------------------------------------------------------------------------------------

export interface TopicDef<P extends z.ZodType = z.ZodType> {
  summary: string;
  payload: P;
}

export const topics = {
  'connections.state': {
    summary: 'Every profile\u2019s connection state, sent whole on each change.',
    payload: z.array(ConnectionState),
  },
  'profiles.changed': {
    summary: 'The profile list, sent whole when a profile is created, changed or deleted.',
    payload: z.array(Profile),
  },
} as const satisfies Record<string, TopicDef>;

export type Topics = typeof topics;
export type TopicName = keyof Topics;
export type TopicPayload<T extends TopicName> = z.output<Topics[T]['payload']>;

// ---------------------------------------------------------------------------------------------
// What every transport gives the renderer
// ---------------------------------------------------------------------------------------------

export type { FieldIssue, ApiErrorBody, ErrorCode } from '../lib/errors.js';
export type { InvokeResult, MeshdeckBridge, WsClientFrame, WsServerFrame } from './wire.js';

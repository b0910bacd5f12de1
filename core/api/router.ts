/**
 * The one router behind both transports. It validates every input and output against the
 * contract, turns failures into typed errors, and hands out topic subscriptions.
 */
import type { z } from 'zod';
import { MeshdeckError, ValidationError, toErrorBody, type FieldIssue } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import {
  methods,
  topics,
  type InvokeResult,
  type MethodName,
  type MethodOutput,
  type MethodParsedInput,
  type TopicName,
  type TopicPayload,
} from './contract.js';

export interface CallContext {
  transport: 'ipc' | 'http' | 'ws' | 'internal';
  /** Who is acting, for the audit log: "desktop", "http 127.0.0.1", ... */
  actor: string;
}

export type Handlers = {
  [M in MethodName]: (input: MethodParsedInput<M>, ctx: CallContext) => Promise<MethodOutput<M>> | MethodOutput<M>;
};

export interface TopicSource<T> {
  current(): T;
  /** Calls `listener` on every change; returns an unsubscribe function. */
  watch(listener: (value: T) => void): () => void;
}

export type TopicSources = { [T in TopicName]: TopicSource<TopicPayload<T>> };

export function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

function describeIssues(issues: FieldIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

export interface RouterHooks {
  /** Turns a handler's failure into a typed error (e.g. a database error into an explained StoreError). */
  explainError?: (err: unknown, method: MethodName) => unknown;
  /** A command (a method that changes something) went through. */
  commandSucceeded?: (method: MethodName) => void;
}

export class ApiRouter {
  constructor(
    private readonly handlers: Handlers,
    private readonly sources: TopicSources,
    private readonly logger: Logger,
    private readonly hooks: RouterHooks = {},
  ) {}

  static isMethod(name: string): name is MethodName {
    return Object.hasOwn(methods, name);
  }

  static isTopic(name: string): name is TopicName {
    return Object.hasOwn(topics, name);
  }

  /** Validates, dispatches and validates again; throws MeshdeckError. */
  async call(method: string, rawInput: unknown, ctx: CallContext): Promise<unknown> {
    if (!ApiRouter.isMethod(method)) {
      throw new MeshdeckError('NOT_FOUND', `Unknown API method "${method}"`, { context: { method } });
    }
    const def = methods[method];
    const parsed = def.input.safeParse(rawInput ?? {});
    if (!parsed.success) {
      const issues = zodIssues(parsed.error);
      throw new ValidationError(`Invalid input for ${method}: ${describeIssues(issues)}`, issues, { method });
    }
    const handler = this.handlers[method] as (input: unknown, ctx: CallContext) => unknown;
    let result: unknown;
    try {
      result = await handler(parsed.data, ctx);
    } catch (err) {
      throw this.hooks.explainError ? this.hooks.explainError(err, method) : err;
    }
    if (def.kind === 'command') this.hooks.commandSucceeded?.(method);
    const checked = def.output.safeParse(result);
    if (!checked.success) {
      // A handler broke the contract: our bug, never the caller's.
      this.logger.error('handler output violates the contract', { method, issues: zodIssues(checked.error) });
      throw new MeshdeckError('INTERNAL', `The core returned an invalid result for ${method}`, { context: { method } });
    }
    return checked.data;
  }

  /** Like `call`, but never throws: the envelope every transport sends. */
  async invoke(method: string, rawInput: unknown, ctx: CallContext): Promise<InvokeResult> {
    try {
      return { ok: true, result: await this.call(method, rawInput, ctx) };
    } catch (err) {
      if (!(err instanceof MeshdeckError) || err.code === 'INTERNAL') {
        this.logger.error('API call failed', { method, transport: ctx.transport, err });
      } else {
        this.logger.debug('API call refused', { method, transport: ctx.transport, code: err.code, message: err.message });
      }
      return { ok: false, error: toErrorBody(err) };
    }
  }

  /** Sends the current value at once, then every change. */
  subscribe(topic: string, listener: (payload: unknown) => void): () => void {
    if (!ApiRouter.isTopic(topic)) {
      throw new MeshdeckError('NOT_FOUND', `Unknown subscription topic "${topic}"`, { context: { topic } });
    }
    const source = this.sources[topic] as TopicSource<unknown>;
    const unwatch = source.watch(listener);
    listener(source.current());
    return unwatch;
  }
}

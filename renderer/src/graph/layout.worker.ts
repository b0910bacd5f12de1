/**
 * Runs the topology layout off the main thread: one message in (packed input + previous result),
 * one out. Requests that queued up while a layout ran are superseded by the newest: only it is
 * laid out, the others are answered `skipped` (a mesh whose edges are still arriving asks for a
 * new layout every second, and each would otherwise be computed in turn).
 */
import { layoutGraph, unpackLayoutInput, type LayoutResult, type PackedLayoutInput } from './layout';

interface Request {
  seq: number;
  /** Who asks (one graph view): only its own older requests are superseded. */
  channel: number;
  input: PackedLayoutInput;
  previous: LayoutResult | null;
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<Request>) => void) | null; postMessage(message: unknown): void };

const newest = new Map<number, Request>();

scope.onmessage = (e) => {
  const older = newest.get(e.data.channel);
  if (older) scope.postMessage({ seq: older.seq, skipped: true });
  newest.set(e.data.channel, e.data);
  if (older) return; // already scheduled
  // After the messages already queued: they replace the channel's newest first.
  setTimeout(() => {
    const request = newest.get(e.data.channel)!;
    newest.delete(e.data.channel);
    scope.postMessage({ seq: request.seq, result: layoutGraph(unpackLayoutInput(request.input), request.previous) });
  }, 0);
};

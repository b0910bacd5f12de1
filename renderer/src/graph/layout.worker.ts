/** Runs the topology layout off the main thread: one message in (packed input + previous result), one out. */
import { layoutGraph, unpackLayoutInput, type LayoutResult, type PackedLayoutInput } from './layout';

interface Request {
  seq: number;
  input: PackedLayoutInput;
  previous: LayoutResult | null;
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<Request>) => void) | null; postMessage(message: unknown): void };

scope.onmessage = (e) => {
  const { seq, input, previous } = e.data;
  scope.postMessage({ seq, result: layoutGraph(unpackLayoutInput(input), previous) });
};

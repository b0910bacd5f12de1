/**
 * Linkerd-style retry budget: retries may add at most `ratio` of the requests seen over the
 * last `ttlMs`, plus a floor of `minPerSecond`, so retries cannot turn a brownout into a storm.
 */
export interface RetryBudgetOptions {
  ratio: number;
  minPerSecond: number;
  ttlMs: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 };

export class RetryBudget {
  private readonly bucketMs = 1000;
  private readonly requests: number[];
  private readonly retries: number[];
  private currentBucket = 0;

  constructor(private readonly options: RetryBudgetOptions = DEFAULT_RETRY_BUDGET) {
    const n = Math.max(1, Math.ceil(options.ttlMs / this.bucketMs));
    this.requests = new Array<number>(n).fill(0);
    this.retries = new Array<number>(n).fill(0);
  }

  recordRequest(now: number): void {
    this.requests[this.slot(now)]! += 1;
  }

  /** Spends one retry if the budget has room; false means "do not retry". */
  tryRetry(now: number): boolean {
    const slot = this.slot(now);
    const requests = this.requests.reduce((a, b) => a + b, 0);
    const retries = this.retries.reduce((a, b) => a + b, 0);
    const allowance = this.options.ratio * requests + (this.options.minPerSecond * this.options.ttlMs) / 1000;
    if (retries + 1 > allowance) return false;
    this.retries[slot]! += 1;
    return true;
  }

  private slot(now: number): number {
    const bucket = Math.floor(now / this.bucketMs);
    const n = this.requests.length;
    if (bucket !== this.currentBucket) {
      // Clear the buckets that rolled out of the window since we last looked.
      const steps = Math.min(n, Math.max(0, bucket - this.currentBucket));
      for (let i = 1; i <= steps; i++) {
        const idx = (((this.currentBucket + i) % n) + n) % n;
        this.requests[idx] = 0;
        this.retries[idx] = 0;
      }
      this.currentBucket = bucket;
    }
    return ((bucket % n) + n) % n;
  }
}

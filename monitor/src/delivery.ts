/**
 * Delivery of a notification (SNS's stand-in) or an alarm state change event (EventBridge's)
 * to an HTTP target. Both AWS services retry a target that fails, so a control plane busy
 * for a moment does not lose the event that should start a failover: a network error, a 5xx
 * or a 429 is retried after 1, 2, 4, 8 and 16 s; any other refusal is final.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export const DELIVERY_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 16_000];

export interface DeliveryOptions {
  retryDelaysMs?: readonly number[];
  /** Aborting it (the monitor closing) ends the retries. */
  signal?: AbortSignal;
  /** Each failed attempt, and whether another follows. */
  onFailure?(reason: string, attempt: number, willRetry: boolean): void;
}

const retryable = (statusCode: number) => statusCode >= 500 || statusCode === 429;

/** POSTs `message` as JSON to `url`; resolves true once a 2xx answers, false when it gives up. */
export async function deliver(url: string, message: unknown, options: DeliveryOptions = {}): Promise<boolean> {
  const delays = options.retryDelaysMs ?? DELIVERY_RETRY_DELAYS_MS;
  const body = JSON.stringify(message);
  for (let attempt = 1; ; attempt++) {
    let reason: string;
    let final = false;
    try {
      const response = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 5000, bodyTimeout: 5000, ...(options.signal ? { signal: options.signal } : {}) });
      await response.body.dump();
      if (response.statusCode < 300) return true;
      reason = `refused with ${response.statusCode}`;
      final = !retryable(response.statusCode);
    } catch (error) {
      reason = `not reached: ${(error as Error).message}`;
    }
    const willRetry = !final && attempt <= delays.length && !options.signal?.aborted;
    options.onFailure?.(reason, attempt, willRetry);
    if (!willRetry) return false;
    try {
      await sleep(delays[attempt - 1], undefined, options.signal ? { signal: options.signal } : {});
    } catch {
      return false;
    }
  }
}

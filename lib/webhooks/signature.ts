import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying `sha256=<hex>`: HMAC-SHA256, keyed with the endpoint's secret, of `<timestamp>.<body>`. */
export const SIGNATURE_HEADER = 'X-Berth-Signature';
/** The header carrying the signing time, in Unix seconds; it is part of what is signed. */
export const TIMESTAMP_HEADER = 'X-Berth-Timestamp';

/** The `X-Berth-Signature` value of `body` sent at `timestamp` (Unix seconds). */
export function signPayload(secret: string, body: string | Uint8Array, timestamp: number): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

export interface VerifyOptions {
  /** The endpoint's secret, or several while one is being rotated (any may match). */
  secret: string | readonly string[];
  /** The request body exactly as received (before any JSON parsing). */
  body: string | Uint8Array;
  /** The `X-Berth-Signature` header. */
  signature: string | undefined;
  /** The `X-Berth-Timestamp` header. */
  timestamp: string | undefined;
  /** How far the timestamp may be from now, in seconds, so a captured request cannot be replayed later (default: 300). */
  toleranceSeconds?: number;
  /** Now, in milliseconds (default: `Date.now()`). */
  now?: number;
}

/**
 * For receivers: whether a webhook request is genuine and fresh. Compares in constant time and
 * refuses a timestamp outside the tolerance; de-duplicate replays within it by the event id.
 *
 *     app.post('/hooks/berth', express.text({ type: '*\/*' }), (req, res) => {
 *       if (!verifyPayload({ secret, body: req.body, signature: req.get('x-berth-signature'), timestamp: req.get('x-berth-timestamp') })) return res.sendStatus(401);
 *       …
 *     });
 */
export function verifyPayload(options: VerifyOptions): boolean {
  const { body, signature, timestamp } = options;
  if (typeof signature !== 'string' || typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) return false;
  const seconds = Number(timestamp);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs((options.now ?? Date.now()) / 1000 - seconds) > tolerance) return false;
  const given = Buffer.from(signature.trim());
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  let valid = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signPayload(secret, body, seconds));
    // every secret is compared, so the time taken says nothing about which one matched
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}

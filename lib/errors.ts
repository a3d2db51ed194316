import type { ServerResponse } from 'node:http';

/**
 * The OCI error codes (distribution-spec v1.1.1, "Error Codes") with their default status and message.
 * A throw site may override the status where the spec fixes another one for its endpoint (e.g. 416).
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // distribution's codes for failures of the registry itself, which docker and containerd print as given
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error the registry answers with the OCI JSON envelope. Anything else is passed to the host app's `next(err)`. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers, e.g. `Allow` on a 405 or `Range` on a 416. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { detail?: unknown; status?: number; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message ?? ERROR_CODES[code].message, { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

/** Several errors in one envelope, e.g. one MANIFEST_BLOB_UNKNOWN per missing descriptor. */
export class RegistryErrors extends Error {
  override readonly name = 'RegistryErrors';
  readonly errors: readonly RegistryError[];
  readonly status: number;
  constructor(errors: readonly RegistryError[]) {
    super(errors.map((e) => e.message).join('; '));
    this.errors = errors;
    this.status = errors[0]?.status ?? 400;
  }
}

/**
 * Writes `{"errors":[…]}` as application/json (never with a charset: some clients compare the type
 * exactly). With `hold`, the response is written but not ended, for the caller to end later.
 */
export function sendError(res: ServerResponse, error: RegistryError | RegistryErrors, options: { hold?: boolean } = {}): void {
  const list = error instanceof RegistryErrors ? error.errors : [error];
  const body = Buffer.from(
    JSON.stringify({
      errors: list.map((e) => (e.detail === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, detail: e.detail })),
    }),
  );
  res.statusCode = error.status;
  for (const e of list) for (const [name, value] of Object.entries(e.headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', body.length);
  const content = res.req.method === 'HEAD' ? undefined : body;
  if (options.hold) {
    if (content) res.write(content);
    else res.flushHeaders();
  } else {
    res.end(content);
  }
}

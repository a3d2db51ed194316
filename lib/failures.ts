import type { ServerResponse } from 'node:http';
import { RegistryError } from './errors.js';
import type { RegistryRequest } from './http.js';

/** errno codes of a client that went away: its request ends, nothing is wrong with the registry. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ABORT_ERR']);
/** The store's device is full: the request cannot be served until space is freed. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);
/** Passing shortages (descriptors, a busy resource, a database out of reach): worth retrying soon. */
const BUSY = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'ETIMEDOUT', 'ECONNREFUSED']);
/** MongoDB driver errors that mean "the database is not reachable right now". */
const UNREACHABLE = /^Mongo(Network|NetworkTimeout|ServerSelection|Topology|PoolCleared|NotConnected)Error$/;

/** True when `err` only says that the client stopped listening (or sending): not worth a log line. */
export function clientWentAway(err: unknown, req: RegistryRequest, res: ServerResponse): boolean {
  if (res.destroyed && !res.writableFinished) return true;
  if (req.destroyed && !req.complete) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && CLIENT_GONE.has(code)) || (err instanceof Error && (err.name === 'AbortError' || err.message === 'aborted'));
}

/**
 * The OCI error a client gets for a failure that is not its fault (a store error, a bug). It says
 * what happened in terms a client can act on and nothing more: no message, stack or path of the
 * original error, which goes to the logger instead.
 */
export function storeFailure(err: unknown): RegistryError {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NO_SPACE.has(code)) {
    return new RegistryError('UNAVAILABLE', 'the registry is out of storage space; try again later', { status: 507 });
  }
  if ((typeof code === 'string' && BUSY.has(code)) || (err instanceof Error && UNREACHABLE.test(err.name))) {
    return new RegistryError('UNAVAILABLE', 'the registry storage is busy or unreachable; try again shortly', { headers: { 'Retry-After': '1' } });
  }
  if (err instanceof Error && err.name === 'CorruptRecord') {
    return new RegistryError('UNKNOWN', 'a stored record is damaged; delete it or push it again');
  }
  return new RegistryError('UNKNOWN', 'the registry failed to serve this request');
}

export { createRegistry, type Registry } from './registry.js';
export type { RegistryOptions } from './options.js';
export type { Logger } from './logger.js';
export {
  type Access,
  type Authorize,
  type Challenge,
  type Decision,
  type Identity,
  type Refusal,
  allowAll,
  basicChallenge,
  bearerChallenge,
  pullOnly,
  scopeOf,
} from './auth.js';
export { identityOf } from './context.js';
export { ERROR_CODES, type ErrorCode, RegistryError, RegistryErrors } from './errors.js';
export type { Digest } from './digest.js';
export type { RegistryRequest } from './http.js';
export { memoryStorage } from './storage/memory.js';
export { fsStorage, type FsStorageOptions } from './storage/fs/index.js';
export type * from './storage/types.js';
export { mongoStorage, type MongoStorageOptions } from './storage/mongo/index.js';

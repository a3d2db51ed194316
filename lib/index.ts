export { createRegistry, type Registry } from './registry.js';
export type { RegistryOptions } from './options.js';
export { type Access, type Authorize, allowAll, pullOnly } from './auth.js';
export { ERROR_CODES, type ErrorCode, RegistryError, RegistryErrors } from './errors.js';
export type { Digest } from './digest.js';
export type { RegistryRequest } from './http.js';
export { memoryStorage } from './storage/memory.js';
export { fsStorage, type FsStorageOptions } from './storage/fs.js';
export type * from './storage/types.js';

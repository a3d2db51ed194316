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
export type * from './events.js';
export { RegistryEvents } from './events.js';
export { ERROR_CODES, type ErrorCode, RegistryError, RegistryErrors } from './errors.js';
export type { Digest } from './digest.js';
export type { RegistryRequest } from './http.js';
export { memoryStorage } from './storage/memory.js';
export { fsStorage, type FsStorageOptions } from './storage/fs/index.js';
export type * from './storage/types.js';
export { mongoStorage, type MongoStorageOptions } from './storage/mongo/index.js';
export { type AuthOptions, type Authentication, type HostAuthOptions, type Identify, type InvalidCredentials, firstOf, hostAuth, invalidCredentials } from './auth/host.js';
export { type Permissions, type Rule, type RuleAction, rules } from './auth/rules.js';
export { type BasicAuthOptions, type BasicCredentials, type VerifyPassword, basicAuth, basicCredentials, parseBasic, passwords, safeEqual } from './auth/basic.js';
export { htpasswd, htpasswdFile } from './auth/htpasswd.js';
export { type LoginAttempt, type LoginThrottle, type LoginThrottleOptions, loginThrottle } from './auth/throttle.js';
export { type ResourceScope, ScopeError, accessesOf, parseScope } from './auth/scope.js';
export {
  type IssuedToken,
  type KeyMaterial,
  type SigningKey,
  type TokenAccess,
  type TokenAlgorithm,
  type TokenAuthOptions,
  type TokenClaims,
  type TokenIssuer,
  type TokenIssuerOptions,
  type TrustedKey,
  type VerifyTokenOptions,
  TokenError,
  tokenAuth,
  tokenIssuer,
  verifyToken,
} from './auth/token.js';
export { type TokenEndpoint, type TokenEndpointOptions, tokenEndpoint } from './auth/token-endpoint.js';
export { type Collector, type CollectionResult, type CollectorOptions, type RunOptions, createCollector } from './gc/collector.js';
export type { RetentionRule } from './gc/retention.js';
export { type ArchiveLimits, type Kind, type PageShell, type Portal, type PortalOptions, type RepositorySummary, type TagSummary, createPortal } from './portal/index.js';
export {
  type ClaimedDelivery,
  type Delivery,
  type DeliveryQueue,
  type DeliveryRecord,
  type FsQueueOptions,
  type MemoryQueueOptions,
  type MongoDbLike,
  type MongoQueueOptions,
  type PayloadFormat,
  type RepositoryEventType,
  type RetryOptions,
  type VerifyOptions,
  type WebhookEndpoint,
  type WebhookFilter,
  type Webhooks,
  type WebhooksOptions,
  CLOUDEVENTS_TYPE,
  DISTRIBUTION_TYPE,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  createWebhooks,
  fsQueue,
  memoryQueue,
  mongoQueue,
  signPayload,
  verifyPayload,
} from './webhooks/index.js';
export type { PullRequest, PullThrough } from './pull-through.js';
export { type Mirror, type MirrorOptions, type MirrorUpstream, type UpstreamCredentials, type UpstreamTls, createMirror } from './mirror/index.js';
export { type Actor, type BlobPush, type Deletion, type ManifestPush, type Policy, type Verdict, type Veto, policies } from './policy.js';
export type { Changes, Quota } from './changes.js';
export { type MetricsOptions, type RegistryMetrics, type RegistryMetricsOptions, instrumentStorage, metricsHandler, registryMetrics } from './metrics/index.js';
export { type LimitedEndpoint, type RateLimitOptions, type RateLimits, rateLimits } from './limits/index.js';
export { type ReadinessOptions, healthHandler, readinessHandler } from './health.js';

/**
 * Settings, read from the same environment variables as the v1.1.1 suite and with the same meaning.
 * Boolean switches follow Go's strconv.ParseBool: 1/t/T/TRUE/true/True and 0/f/F/FALSE/false/False;
 * anything else counts as false.
 */
import { randomUUID } from 'node:crypto';

export interface Config {
  rootUrl: string;
  namespace: string;
  crossmountNamespace: string;
  username: string;
  password: string;
  authScope: string;
  debug: boolean;
  workflows: { pull: boolean; push: boolean; discovery: boolean; management: boolean };
  /** False when OCI_TAG_NAME, OCI_MANIFEST_DIGEST and OCI_BLOB_DIGEST are all set: pull from existing content. */
  runPullSetup: boolean;
  /** False when OCI_TAG_LIST is set. */
  runDiscoverySetup: boolean;
  tagName: string;
  tagList: string[];
  blobDigest: string;
  manifestDigest: string;
  /** OCI_DELETE_MANIFEST_BEFORE_BLOBS; true when unset. */
  deleteManifestBeforeBlobs: boolean;
  /** OCI_AUTOMATIC_CROSSMOUNT is set at all (unset: its two specs skip). */
  testAutomaticCrossmount: boolean;
  /** OCI_AUTOMATIC_CROSSMOUNT is true: expect 201 for a mount without `from`; false: expect 202. */
  automaticCrossmount: boolean;
}

export const WORKFLOW_VARIABLES = {
  pull: 'OCI_TEST_PULL',
  push: 'OCI_TEST_PUSH',
  discovery: 'OCI_TEST_CONTENT_DISCOVERY',
  management: 'OCI_TEST_CONTENT_MANAGEMENT',
} as const;

/** Go's strconv.ParseBool; `undefined` for anything it rejects. */
export function parseGoBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const rootUrl = (env.OCI_ROOT_URL ?? '').replace(/\/+$/, '');
  let parsed: URL | undefined;
  try {
    parsed = new URL(rootUrl);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigError(`OCI_ROOT_URL must be an http(s) URL such as http://127.0.0.1:5000 (got ${JSON.stringify(env.OCI_ROOT_URL ?? '')})`);
  }
  const namespace = env.OCI_NAMESPACE ?? '';
  if (namespace === '') throw new ConfigError('OCI_NAMESPACE must name the repository to test, e.g. myorg/myrepo');

  const flag = (name: string) => parseGoBool(env[name]) ?? false;
  const tagName = env.OCI_TAG_NAME ?? '';
  const manifestDigest = env.OCI_MANIFEST_DIGEST ?? '';
  const blobDigest = env.OCI_BLOB_DIGEST ?? '';
  const tagList = env.OCI_TAG_LIST ?? '';
  const automatic = env.OCI_AUTOMATIC_CROSSMOUNT;
  const deleteOrder = env.OCI_DELETE_MANIFEST_BEFORE_BLOBS;

  return {
    rootUrl,
    namespace,
    crossmountNamespace: env.OCI_CROSSMOUNT_NAMESPACE || `conformance-${randomUUID()}`,
    username: env.OCI_USERNAME ?? '',
    password: env.OCI_PASSWORD ?? '',
    authScope: env.OCI_AUTH_SCOPE ?? '',
    debug: flag('OCI_DEBUG'),
    workflows: {
      pull: flag(WORKFLOW_VARIABLES.pull),
      push: flag(WORKFLOW_VARIABLES.push),
      discovery: flag(WORKFLOW_VARIABLES.discovery),
      management: flag(WORKFLOW_VARIABLES.management),
    },
    runPullSetup: !(tagName !== '' && manifestDigest !== '' && blobDigest !== ''),
    runDiscoverySetup: tagList === '',
    tagName,
    tagList: tagList.split(','),
    blobDigest,
    manifestDigest,
    // as in the suite: unset means true, and a value ParseBool rejects means false
    deleteManifestBeforeBlobs: deleteOrder === undefined ? true : (parseGoBool(deleteOrder) ?? false),
    testAutomaticCrossmount: automatic !== undefined,
    automaticCrossmount: parseGoBool(automatic) ?? false,
  };
}

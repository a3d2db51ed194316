/**
 * OCI Distribution Spec v1.1.1 conformance, ported to TypeScript: the checks of the official suite
 * (opencontainers/distribution-spec `conformance/` at v1.1.1), same workflows, order, tolerances and
 * skips, for CI where the Go module cannot be fetched.
 *
 *     OCI_ROOT_URL=http://127.0.0.1:5000 OCI_NAMESPACE=myorg/myrepo OCI_CROSSMOUNT_NAMESPACE=myorg/other \
 *     OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
 *     OCI_AUTOMATIC_CROSSMOUNT=1 npx tsx scripts/conformance.ts
 *
 * Also read: OCI_USERNAME/OCI_PASSWORD (Basic, or Basic to a Bearer token realm), OCI_AUTH_SCOPE,
 * OCI_DELETE_MANIFEST_BEFORE_BLOBS, OCI_TAG_NAME + OCI_MANIFEST_DIGEST + OCI_BLOB_DIGEST, OCI_TAG_LIST,
 * OCI_DEBUG (print every exchange). Ends with the line `N passed, N failed, N skipped`; exit code 1 if
 * any spec failed (or the settings are unusable), else 0.
 */
import { RegistryClient } from '../test/conformance/client.js';
import { ConfigError, WORKFLOW_VARIABLES, readConfig } from '../test/conformance/config.js';
import { buildContent } from '../test/conformance/content.js';
import { type SpecResult, Suite } from '../test/conformance/harness.js';
import { discoveryWorkflow } from '../test/conformance/workflows/discovery.js';
import { managementWorkflow } from '../test/conformance/workflows/management.js';
import { pullWorkflow } from '../test/conformance/workflows/pull.js';
import { pushWorkflow } from '../test/conformance/workflows/push.js';

const USER_AGENT = 'berth-conformance-port (distribution-spec v1.1.1 checks)';

async function main(): Promise<number> {
  let config;
  try {
    config = readConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`conformance: ${err.message}`);
      return 1;
    }
    throw err;
  }
  // the suite never verifies TLS certificates (test registries are often self-signed)
  if (config.rootUrl.startsWith('https:') && process.env.NODE_TLS_REJECT_UNAUTHORIZED === undefined) {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  }

  const client = new RegistryClient({
    rootUrl: config.rootUrl,
    namespace: config.namespace,
    username: config.username,
    password: config.password,
    authScope: config.authScope,
    userAgent: USER_AGENT,
    debug: config.debug,
  });
  const content = buildContent({ blobDigest: config.blobDigest, manifestDigest: config.manifestDigest });
  const suite = new Suite();
  const context = { suite, config, client, content };
  pullWorkflow(context);
  pushWorkflow(context);
  discoveryWorkflow(context);
  managementWorkflow(context);

  const on = Object.entries(config.workflows)
    .filter(([, enabled]) => enabled)
    .map(([name]) => name);
  console.log('OCI Distribution Spec v1.1.1 conformance (TypeScript port)');
  console.log(`  registry:   ${config.rootUrl}`);
  console.log(`  namespace:  ${config.namespace} (cross-mount target: ${config.crossmountNamespace})`);
  console.log(`  workflows:  ${on.length > 0 ? on.join(', ') : 'none'}`);
  console.log(
    `  auto-mount: ${config.testAutomaticCrossmount ? `expect ${config.automaticCrossmount ? 201 : 202}` : 'not tested'}; ` +
      `teardown deletes ${config.deleteManifestBeforeBlobs ? 'manifests before blobs' : 'blobs before manifests'}`,
  );

  let heading = '';
  const variableOf: Record<string, string> = {
    Pull: WORKFLOW_VARIABLES.pull,
    Push: WORKFLOW_VARIABLES.push,
    'Content Discovery': WORKFLOW_VARIABLES.discovery,
    'Content Management': WORKFLOW_VARIABLES.management,
  };
  const results = await suite.run(
    (r) => {
      const here = `${r.spec.workflow} › ${r.spec.context}`;
      if (here !== heading) {
        heading = here;
        console.log(`\n${here}`);
      }
      console.log(line(r));
    },
    (workflow) => `workflow disabled (set ${variableOf[workflow] ?? 'its OCI_TEST_* variable'}=1)`,
  );

  const count = (o: SpecResult['outcome']) => results.filter((r) => r.outcome === o).length;
  const failed = results.filter((r) => r.outcome === 'failed');
  if (failed.length > 0) {
    console.log('\nFailed specs:');
    for (const r of failed) console.log(`  - ${r.spec.workflow} › ${r.spec.context} › ${r.spec.name}: ${r.message ?? ''}`);
  }
  console.log(`\n${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`);
  return failed.length > 0 ? 1 : 0;
}

function line(r: SpecResult): string {
  const mark = { passed: 'PASS', failed: 'FAIL', skipped: 'SKIP' }[r.outcome];
  const out = [`  [${mark}] ${r.spec.name}${r.outcome === 'skipped' && r.message ? ` (${r.message})` : ''}`];
  if (r.outcome === 'failed') {
    out.push(`         ${r.message ?? 'failed'}`);
    for (const d of r.details) out.push(`           ${d}`);
  }
  for (const w of r.warnings) out.push(`         warning: ${w}`);
  return out.join('\n');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);

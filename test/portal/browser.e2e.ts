/**
 * The portal in a real browser (Debian's chromium driven by playwright-core) and the Helm CLI against
 * its classic chart repository. Run by scripts/ci-portal.sh, not by `npm test` (it needs chromium
 * and helm). Screenshots of every page go to results/portal-screenshots/.
 *
 *   CHROMIUM=/usr/bin/chromium HELM_BIN=…/helm npx tsx --test test/portal/browser.e2e.ts
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { type PortalApp, seed, startPortalApp } from './fixtures.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = join(ROOT, 'results/portal-screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** helm from $HELM_BIN, else the one scripts/clients/install.sh cached. */
function helmBinary(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  const cache = process.env.BERTH_CLIENTS_CACHE ?? join(ROOT, '.cache/clients');
  const dir = existsSync(cache) ? readdirSync(cache).find((d) => /^helm3-v[\d.]+$/.test(d)) : undefined;
  if (!dir) throw new Error(`no helm binary: set HELM_BIN or run scripts/clients/install.sh (looked in ${cache})`);
  return join(cache, dir, 'bin/helm');
}

describe('portal in chromium, charts with the helm CLI', () => {
  let app: PortalApp;
  let context: BrowserContext;
  let page: Page;
  let work: string;
  let helmEnv: NodeJS.ProcessEnv;
  let helm: (...args: string[]) => Promise<string>;
  let base: string;
  const axe = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

  const shot = async (name: string) => {
    const path = join(SHOTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
  };

  /** No serious or critical axe-core violation on the page (contrast, labels, names, structure). */
  const accessible = async (what: string) => {
    await page.addScriptTag({ path: axe });
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run();
      return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    assert.deepEqual(violations, [], `${what}: accessibility violations`);
  };

  const signIn = async (user: string) => {
    await page.goto(`${app.origin}/login?user=${user}`);
    await page.waitForURL(`${base}/`);
  };

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'berth-portal-e2e-'));
    const binary = helmBinary();
    helmEnv = { ...process.env, HELM_CONFIG_HOME: join(work, 'helm/config'), HELM_CACHE_HOME: join(work, 'helm/cache'), HELM_DATA_HOME: join(work, 'helm/data') };
    helm = async (...args) => (await run(binary, args, { cwd: work, env: helmEnv })).stdout;
    console.log(`# helm ${(await helm('version', '--short')).trim()} (${binary}); chromium ${CHROMIUM}`);
    app = await startPortalApp({ loginUrl: '/login?user=ann' });
    base = `${app.origin}/artifacts`;
    await seed(app.ann);
    // a fresh profile for every run; bypassCSP only so that axe-core can be injected
    context = await chromium.launchPersistentContext(join(work, 'profile'), { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: { width: 1280, height: 900 }, bypassCSP: true });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context.close();
    await app.close();
    await rm(work, { recursive: true, force: true });
  });

  it('browses as an anonymous visitor: public repositories only, a sign-in link', async () => {
    await page.goto(`${base}/`);
    await assert.doesNotReject(page.getByRole('link', { name: 'public/web' }).waitFor());
    assert.equal(await page.getByRole('link', { name: 'private/secret' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Sign in' }).count(), 1);
    await shot('repositories-anonymous');
    await accessible('repositories (anonymous)');
  });

  it('keyboard: the first Tab reaches the skip link, which leads to the content', async () => {
    await page.goto(`${base}/`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.match(page.url(), /#main$/);
  });

  it('signs in through the host session and sees every repository it may pull', async () => {
    await signIn('ann');
    assert.equal(await page.getByRole('link', { name: 'private/secret' }).count(), 1);
    assert.match((await page.locator('.who').textContent()) ?? '', /Signed in as ann/);
    await shot('repositories');
    await accessible('repositories');
  });

  it('searches by name and filters by artifact type, from the keyboard', async () => {
    await page.getByLabel('Name contains').fill('web');
    await page.getByLabel('Name contains').press('Enter');
    await page.waitForURL(/q=web/);
    assert.deepEqual(await page.locator('tbody td:first-child a').allTextContents(), ['public/web']);
    await page.getByLabel('Name contains').fill('');
    await page.getByLabel('Artifact type').selectOption('helm');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/type=helm/);
    assert.deepEqual(await page.locator('tbody td:first-child a').allTextContents(), ['charts/demo']);
    await shot('search');
    await page.getByLabel('Artifact type').selectOption('');
    await page.getByLabel('Sort by').selectOption('pushed');
    await page.getByLabel('Order').selectOption('desc');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/sort=pushed/);
    assert.equal((await page.locator('tbody td:first-child a').allTextContents())[0], 'charts/demo', 'the newest push first');
  });

  it('shows a repository with platforms and pull commands, copyable when script runs', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: 'public/web' }).click();
    await page.waitForURL(`${base}/r/public/web`);
    assert.match((await page.locator('tbody').textContent()) ?? '', /linux\/amd64, linux\/arm64\/v8/);
    await page.locator('summary', { hasText: 'Pull' }).first().click();
    const copy = page.getByRole('button', { name: /Copy: docker pull/ }).first();
    assert.equal(await copy.isVisible(), true, 'the copy button appears with script');
    await shot('repository');
    await accessible('repository');
  });

  it('shows a manifest: platforms, annotations and the referrers tree', async () => {
    await page.getByRole('link', { name: /^sha256:/ }).first().click();
    await page.waitForURL(/\/-\/manifest\/sha256:/);
    assert.equal(await page.getByRole('heading', { name: 'Platforms' }).count(), 1);
    const tree = page.locator('ul.tree');
    assert.match((await tree.first().textContent()) ?? '', /Signature[\s\S]*Attestation[\s\S]*SBOM|SBOM[\s\S]*Signature[\s\S]*Attestation/);
    await shot('manifest');
    await accessible('manifest');
  });

  it('opens a chart: metadata, README, values and versions', async () => {
    await page.goto(`${base}/r/charts/demo`);
    await page.getByRole('link', { name: 'Helm chart page' }).click();
    await page.waitForURL(/\/-\/chart$/);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'demo 0.2.0');
    assert.equal(await page.getByRole('heading', { name: 'Demo', level: 3 }).count(), 1, 'README rendered');
    assert.match((await page.locator('pre').first().textContent()) ?? '', /replicaCount: 1/);
    assert.equal(await page.locator('table').last().locator('tbody tr').count(), 3);
    await shot('chart');
    await accessible('chart');
  });

  it('keeps its contrast in the dark color scheme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    try {
      for (const path of ['/', '/r/public/web', '/r/charts/demo/-/chart', '/upload']) {
        await page.goto(`${base}${path}`);
        await accessible(`${path} (dark)`);
      }
      await page.goto(`${base}/r/charts/demo/-/chart`);
      await shot('chart-dark');
    } finally {
      await page.emulateMedia({ colorScheme: 'light' });
    }
  });

  it('uploads a chart packaged by helm and sees it listed', async () => {
    await helm('create', 'webapp');
    await helm('package', 'webapp', '--version', '0.3.0+build.2', '--app-version', '2.0.0');
    const tgz = join(work, 'webapp-0.3.0+build.2.tgz');
    await page.goto(`${base}/upload`);
    await page.getByLabel('A Helm chart package (.tgz)').check();
    await page.getByLabel('Namespace').fill('charts');
    await page.getByLabel('File or files').setInputFiles(tgz);
    await shot('upload');
    await accessible('upload');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.waitForURL(`${base}/r/charts/webapp?pushed=0.3.0_build.2`);
    assert.match((await page.getByRole('status').first().textContent()) ?? '', /Pushed 0\.3\.0_build\.2/);
    await shot('uploaded');
    await page.goto(`${base}/?type=helm`);
    assert.deepEqual(await page.locator('tbody td:first-child a').allTextContents(), ['charts/demo', 'charts/webapp']);
  });

  it('helm: repo add, search repo, pull and template from the classic repository; pull from oci://', async () => {
    const tgz = await readFile(join(work, 'webapp-0.3.0+build.2.tgz'));
    console.log(await helm('repo', 'add', 'berth', `${base}/helm/charts`));
    const search = await helm('search', 'repo', 'berth/', '--devel');
    console.log(search);
    assert.match(search, /berth\/webapp\s+0\.3\.0\+build\.2\s+2\.0\.0/);
    assert.match(search, /berth\/demo\s+1\.0\.0-rc\.1/);
    await mkdir(join(work, 'pulled'));
    await helm('pull', 'berth/webapp', '--version', '0.3.0+build.2', '-d', 'pulled');
    const pulled = await readFile(join(work, 'pulled/webapp-0.3.0+build.2.tgz'));
    assert.equal(createHash('sha256').update(pulled).digest('hex'), createHash('sha256').update(tgz).digest('hex'), 'the classic repository serves the uploaded package byte for byte');
    const rendered = await helm('template', 'rel', 'berth/webapp', '--version', '0.3.0+build.2');
    assert.match(rendered, /kind: Deployment/);
    await mkdir(join(work, 'oci'));
    await helm('pull', `oci://${new URL(app.origin).host}/charts/webapp`, '--version', '0.3.0+build.2', '--plain-http', '-d', 'oci');
    assert.ok((await readFile(join(work, 'oci/webapp-0.3.0+build.2.tgz'))).equals(tgz), 'oci:// serves the same package');
  });

  it('deletes a tag after confirmation', async () => {
    await page.goto(`${base}/r/charts/demo`);
    await page.getByRole('link', { name: 'Delete tag 1.0.0-rc.1' }).click();
    await page.waitForURL(/\/-\/delete\?tag=1\.0\.0-rc\.1$/);
    await shot('delete');
    await page.getByRole('button', { name: 'Delete tag 1.0.0-rc.1' }).click();
    await page.waitForURL(/deleted=1\.0\.0-rc\.1/);
    assert.equal(await page.locator('tbody tr').count(), 2);
  });

  it('refuses an upload to a reader, and nothing appears', async () => {
    await signIn('bob');
    await page.goto(`${base}/upload`);
    await page.getByLabel('Files, as an OCI artifact').check();
    await page.getByLabel('Repository').fill('public/from-bob');
    await page.getByLabel('Tag', { exact: true }).fill('v1');
    await page.getByLabel('File or files').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /You may not push to public\/from-bob/);
    await shot('upload-refused');
    await page.goto(`${base}/`);
    assert.equal(await page.getByRole('link', { name: 'public/from-bob' }).count(), 0);
  });

  it('works without script: search and pages need no JavaScript', async () => {
    const noScript = await chromium.launchPersistentContext(join(work, 'profile-noscript'), { executablePath: CHROMIUM, args: FLAGS, headless: true, javaScriptEnabled: false });
    try {
      const p = noScript.pages()[0] ?? (await noScript.newPage());
      await p.goto(`${base}/`);
      await p.getByLabel('Name contains').fill('tools');
      await p.getByRole('button', { name: 'Search' }).click();
      await p.waitForURL(/q=tools/);
      assert.deepEqual(await p.locator('tbody td:first-child a').allTextContents(), ['public/tools']);
      await p.getByRole('link', { name: 'public/tools' }).click();
      await p.locator('summary', { hasText: 'Pull' }).first().click();
      assert.equal(await p.getByRole('button', { name: /Copy/ }).first().isVisible(), false, 'no copy button without script');
      assert.equal(await p.locator('code', { hasText: 'docker pull' }).first().isVisible(), true);
    } finally {
      await noScript.close();
    }
  });
});

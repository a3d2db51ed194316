import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ArchiveError, type ArchiveLimits, readChartArchive } from '../../lib/portal/chart-archive.js';
import { ChartError, compareVersions, parseChartYaml, tagOfVersion } from '../../lib/portal/chart-meta.js';
import { escapeHtml, html, safeUrl } from '../../lib/portal/html.js';
import { renderMarkdown } from '../../lib/portal/markdown.js';
import { makeChart, tarOf } from './fixtures.js';

const LIMITS: ArchiveLimits = { maxCompressedSize: 1024 * 1024, maxTotalSize: 2 * 1024 * 1024, maxEntrySize: 64 * 1024, maxEntries: 50 };
const read = (bytes: Buffer, limits: Partial<ArchiveLimits> = {}) => readChartArchive(Readable.from([bytes]), { ...LIMITS, ...limits });
const refused = async (bytes: Buffer, pattern: RegExp, limits: Partial<ArchiveLimits> = {}) => {
  await assert.rejects(read(bytes, limits), (err: unknown) => err instanceof ArchiveError && pattern.test(err.message));
};

describe('chart archive reader', () => {
  it('reads Chart.yaml, values.yaml and the README of a helm package', async () => {
    const files = await read(await makeChart({ name: 'demo', version: '1.2.3', readme: '# Hello', values: 'a: 1\n' }));
    assert.equal(files.top, 'demo');
    assert.match(files.chartYaml ?? '', /^apiVersion: v2\nname: demo\nversion: 1.2.3/);
    assert.equal(files.valuesYaml, 'a: 1\n');
    assert.deepEqual(files.readme, { name: 'README.md', text: '# Hello' });
  });

  it('ignores files of subcharts and reads a README in any case', async () => {
    const tgz = gzipSync(await tarOf([['demo/charts/sub/Chart.yaml', 'name: sub'], ['demo/Chart.yaml', 'name: demo\nversion: 1.0.0'], ['demo/readme.md', 'hi']]));
    const files = await read(tgz);
    assert.equal(files.chartYaml, 'name: demo\nversion: 1.0.0');
    assert.equal(files.readme?.text, 'hi');
  });

  it('stops at the compressed size limit', async () => {
    await refused(await makeChart({ name: 'demo', version: '1.0.0', files: { 'big.bin': Math.random().toString(36).repeat(40_000) } }), /larger than 1000 bytes/, { maxCompressedSize: 1000 });
  });

  it('stops a gzip bomb at the unpacked size limit', async () => {
    const bomb = gzipSync(await tarOf([['demo/Chart.yaml', 'name: demo'], ['demo/zeros', Buffer.alloc(20 * 1024 * 1024)]]));
    assert.ok(bomb.length < 100 * 1024, 'a small archive');
    await refused(bomb, /unpacks to more than/);
  });

  it('refuses too many entries', async () => {
    const entries = Array.from({ length: 60 }, (_, i) => [`demo/templates/t${i}.yaml`, 'x'] as const);
    await refused(gzipSync(await tarOf([['demo/Chart.yaml', 'name: demo'], ...entries])), /more than 50 entries/);
  });

  it('refuses a file it reads that is larger than the entry limit', async () => {
    await refused(gzipSync(await tarOf([['demo/values.yaml', 'x'.repeat(70 * 1024)]])), /demo\/values.yaml is larger than 65536 bytes/);
  });

  it('refuses paths that leave the chart directory, absolute paths and several top directories', async () => {
    await refused(gzipSync(await tarOf([['demo/../../etc/Chart.yaml', 'x']])), /outside its directory/);
    await refused(gzipSync(await tarOf([['/etc/passwd', 'x']])), /unsafe path/);
    await refused(gzipSync(await tarOf([['demo/Chart.yaml', 'x'], ['other/values.yaml', 'y']])), /more than one top directory/);
    await refused(gzipSync(await tarOf([['demo\\..\\x', 'x']])), /unsafe path/);
  });

  it('refuses what is not a gzip-compressed tar archive, or is cut short', async () => {
    await refused(Buffer.from('PK\u0003\u0004 not a tgz'), /not a gzip-compressed tar archive/);
    const tgz = await makeChart({ name: 'demo', version: '1.0.0', files: { 'x.bin': 'y'.repeat(50_000) } });
    await assert.rejects(read(tgz.subarray(0, tgz.length / 2)), ArchiveError);
    await refused(gzipSync(Buffer.from('not a tar archive at all, just text')), /./);
  });
});

describe('Chart.yaml', () => {
  it('keeps the well-typed fields helm knows', () => {
    const meta = parseChartYaml(
      'apiVersion: v2\nname: web\nversion: 1.0.0+build.5\nappVersion: 2.4\nkeywords: [a, 3, {x: 1}]\nmaintainers:\n  - name: Ann\n    email: ann@example.com\n  - email: nameless@example.com\ndependencies:\n  - name: redis\n    version: ~17\n    repository: oci://r/charts\nextra: ignored\n',
    );
    assert.deepEqual(meta, {
      apiVersion: 'v2',
      name: 'web',
      version: '1.0.0+build.5',
      appVersion: '2.4',
      keywords: ['a', '3'],
      maintainers: [{ name: 'Ann', email: 'ann@example.com' }],
      dependencies: [{ name: 'redis', version: '~17', repository: 'oci://r/charts' }],
    });
  });

  it('refuses what helm refuses: no name, no SemVer version, another apiVersion, not a mapping', () => {
    assert.throws(() => parseChartYaml('version: 1.0.0'), ChartError);
    assert.throws(() => parseChartYaml('name: x\nversion: one'), /not a SemVer 2 version/);
    assert.throws(() => parseChartYaml('apiVersion: v3\nname: x\nversion: 1.0.0'), /apiVersion/);
    assert.throws(() => parseChartYaml('- a\n- b'), /mapping/);
    assert.throws(() => parseChartYaml('name: [unclosed'), /not valid YAML/);
  });

  it('refuses a billion-laughs alias bomb', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    assert.throws(() => parseChartYaml(`name: x\nversion: 1.0.0\n${lines.join('\n')}\n`), ChartError);
  });

  it('maps versions to tags as helm does and orders versions by SemVer', () => {
    assert.equal(tagOfVersion('1.0.0+build.1'), '1.0.0_build.1');
    const sorted = ['1.0.0', '0.10.0', '1.0.0-rc.1', '0.9.0', '1.0.0-alpha', '1.0.0-rc.10', '1.0.0-rc.2'].sort(compareVersions);
    assert.deepEqual(sorted, ['0.9.0', '0.10.0', '1.0.0-alpha', '1.0.0-rc.1', '1.0.0-rc.2', '1.0.0-rc.10', '1.0.0']);
  });
});

describe('escaping', () => {
  it('escapes every interpolation unless it is already HTML', () => {
    const name = '"><script>alert(1)</script>';
    assert.equal(html`<a title="${name}">${name}</a>`.value, '<a title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</a>');
    assert.equal(html`${[html`<b>`, '<i>']}${undefined}${false}${3}`.value, '<b>&lt;i&gt;3');
    assert.equal(escapeHtml(`'&`), '&#39;&amp;');
  });

  it('keeps only http(s) URLs', () => {
    assert.equal(safeUrl('https://example.com/x'), 'https://example.com/x');
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,x', '/relative', 'vbscript:x', ' javascript:alert(1)']) assert.equal(safeUrl(bad), undefined, bad);
  });
});

describe('README Markdown', () => {
  const render = (md: string) => renderMarkdown(md).value;

  it('renders Markdown: headings below the page headings, tables, code', () => {
    const out = render('# Title\n\n`code` and **bold**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```yaml\nkey: <value>\n```\n');
    assert.match(out, /<h3>Title<\/h3>/);
    assert.match(out, /<code>code<\/code>/);
    assert.match(out, /<table>/);
    assert.match(out, /key: &lt;value&gt;/);
  });

  it('shows raw HTML as text and never emits script, handlers or dangerous URLs', () => {
    const hostile = [
      '<script>alert(1)</script>',
      'inline <img src=x onerror=alert(1)> html',
      '<a href="javascript:alert(1)">x</a>',
      '[click](javascript:alert(1))',
      '[click](JAVASCRIPT:alert(1) "t")',
      '[data](data:text/html;base64,PHNjcmlwdD4=)',
      '![img](https://tracker.example/pixel.png)',
      '![x](javascript:alert(1))',
      '<iframe src="https://evil.example"></iframe>',
      '[t](https://ok.example "a\\" onmouseover=\\"alert(1)")',
      '<details open ontoggle=alert(1)>',
      '<svg><script>alert(1)</script></svg>',
      '<style>body{display:none}</style>',
      '[ref]: javascript:alert(1)\n\n[ref]',
    ].join('\n\n');
    const out = render(hostile);
    // every real tag is an allowed element with allowed, quoted attributes
    for (const [tag, name = '', attributes = ''] of out.matchAll(/<\/?([a-z0-9]+)([^>]*)>/gi)) {
      assert.ok(['p', 'a', 'code', 'pre', 'h3', 'strong', 'em'].includes(name.toLowerCase()), `element ${tag}`);
      const names = [...attributes.matchAll(/\s([a-z-]+)="[^"<>]*"/gi)].map((m) => m[1]);
      assert.equal(attributes.replace(/\s([a-z-]+)="[^"<>]*"/gi, '').trim(), '', `only quoted attributes in ${tag}`);
      for (const attribute of names) assert.ok(['href', 'title', 'rel'].includes(attribute ?? ''), `attribute ${attribute ?? ''} in ${tag}`);
    }
    for (const [, href = ''] of out.matchAll(/href="([^"]*)"/g)) assert.match(href, /^https:\/\//);
    assert.match(out, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(out, /<a href="https:\/\/tracker.example\/pixel.png" rel="nofollow noopener noreferrer">\[image: img\]<\/a>/);
  });
});

import { type Readable, Transform, type TransformCallback, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type tar from 'tar-stream';

/** Loaded with the first chart read: a host that never serves charts does not load it. */
let tarStream: Promise<typeof tar> | undefined;

/** Bounds on reading a chart archive, against gzip bombs and hostile tar files. */
export interface ArchiveLimits {
  /** Bytes of the `.tgz` itself (default 64 MiB). */
  maxCompressedSize: number;
  /** Bytes once gunzipped: the whole tar stream, headers included (default 128 MiB). */
  maxTotalSize: number;
  /** Bytes of one file the portal reads (Chart.yaml, values.yaml, README; default 4 MiB). */
  maxEntrySize: number;
  /** Entries in the archive (default 10,000). */
  maxEntries: number;
}

/** The archive is not a chart the portal will read: the message says why, for the person who uploaded it. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}

/** What the portal reads from a chart package: its top directory and three files, as text. */
export interface ChartFiles {
  /** The chart's directory inside the archive (helm packages put everything under `<name>/`). */
  top: string;
  chartYaml?: string;
  valuesYaml?: string;
  readme?: { name: string; text: string };
}

const README = /^readme(?:\.md|\.markdown|\.txt)?$/i;

/**
 * Reads Chart.yaml, values.yaml and the README from a chart `.tgz`, streaming: gunzip and tar are
 * read as the bytes arrive, other files are skipped without being kept, and reading stops once
 * the three files are found. Throws an {@link ArchiveError} when a limit is passed, a path leaves
 * the chart's directory, or the data is not a gzip-compressed tar archive.
 */
export async function readChartArchive(source: Readable, limits: ArchiveLimits, signal?: AbortSignal): Promise<ChartFiles> {
  const extract = (await (tarStream ??= import('tar-stream').then((m) => m.default))).extract();
  const compressed = meter(limits.maxCompressedSize, (n) => `the chart archive is larger than ${n} bytes`);
  const unpacked = meter(limits.maxTotalSize, (n) => `the chart archive unpacks to more than ${n} bytes`);
  const abort = () => source.destroy(new ArchiveError('reading the chart archive was cancelled'));
  signal?.addEventListener('abort', abort, { once: true });
  pipeline(source, compressed, createGunzip(), unpacked, (err) => {
    if (err) extract.destroy(err.name === 'ArchiveError' ? err : new ArchiveError(describeFailure(err)));
  });
  unpacked.pipe(extract);

  const files: Partial<ChartFiles> = {};
  let entries = 0;
  try {
    for await (const entry of extract) {
      const { header } = entry;
      if (++entries > limits.maxEntries) throw new ArchiveError(`the chart archive has more than ${limits.maxEntries} entries`);
      const path = checkedPath(header.name);
      const [first = '', ...rest] = path.split('/');
      if (files.top === undefined) files.top = first;
      if (first !== files.top) throw new ArchiveError(`the chart archive holds more than one top directory ("${files.top}" and "${first}")`);
      const name = rest.join('/');
      const wanted = header.type === 'file' || header.type === 'contiguous-file' ? want(name, files) : undefined;
      if (wanted === undefined) {
        // skipped: read and dropped, counted by the unpacked meter
        await drain(entry);
        continue;
      }
      const size = header.size;
      if (size > limits.maxEntrySize) throw new ArchiveError(`${path} is larger than ${limits.maxEntrySize} bytes`);
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      if (wanted === 'readme') files.readme = { name, text };
      else files[wanted] = text;
      if (files.chartYaml !== undefined && files.valuesYaml !== undefined && files.readme !== undefined) break;
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    if (signal?.aborted) throw new ArchiveError('reading the chart archive was cancelled');
    throw new ArchiveError(describeFailure(err as Error));
  } finally {
    signal?.removeEventListener('abort', abort);
    if (!source.destroyed) source.destroy();
    extract.destroy();
  }
  if (files.top === undefined) throw new ArchiveError('the chart archive is empty');
  return files as ChartFiles;
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  const iterator = entry[Symbol.asyncIterator]();
  while (!(await iterator.next()).done) {
    // nothing kept
  }
}

function want(name: string, files: Partial<ChartFiles>): 'chartYaml' | 'valuesYaml' | 'readme' | undefined {
  if (name === 'Chart.yaml' && files.chartYaml === undefined) return 'chartYaml';
  if (name === 'values.yaml' && files.valuesYaml === undefined) return 'valuesYaml';
  if (README.test(name) && files.readme === undefined) return 'readme';
  return undefined;
}

/** The entry's path, normalised; refuses absolute paths, `..`, backslashes and control characters. */
function checkedPath(raw: string): string {
  const path = raw.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
  if (path === '' || path.length > 4096) throw new ArchiveError('the chart archive has an entry with an empty or overlong name');
  // eslint-disable-next-line no-control-regex
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.includes('\\') || /[\u0000-\u001f]/.test(path)) {
    throw new ArchiveError(`the chart archive has an unsafe path ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (path.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw new ArchiveError(`the chart archive has a path outside its directory: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  return path;
}

function describeFailure(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code.startsWith('Z_')) return 'the file is not a gzip-compressed tar archive (a chart .tgz)';
  if (/unexpected end|premature/i.test(err.message)) return 'the chart archive is truncated';
  if (/header|checksum|format/i.test(err.message)) return 'the chart archive is not a valid tar archive';
  return 'the chart archive could not be read';
}

/** Passes bytes through, failing once more than `limit` went by. */
function meter(limit: number, message: (limit: number) => string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) done(new ArchiveError(message(limit)));
      else done(null, chunk);
    },
  });
}

/**
 * Reading response bodies the way the suite does: Go's `encoding/json` into typed structs. That is
 * more lenient than a schema (unknown fields are ignored, `null` leaves a field empty, keys match
 * case-insensitively) and stricter than `JSON.parse` (a field of the wrong type, or a `[]byte` field
 * that is not base64, is an error). Only the shapes the suite decodes are described here.
 */

export type Shape =
  | { kind: 'string' }
  | { kind: 'int' }
  | { kind: 'bytes' }
  | { kind: 'any' }
  | { kind: 'array'; of: Shape }
  | { kind: 'map'; of: Shape }
  | { kind: 'struct'; fields: Record<string, Shape> };

const str: Shape = { kind: 'string' };
const int: Shape = { kind: 'int' };
const bytes: Shape = { kind: 'bytes' };
const any: Shape = { kind: 'any' };
const arrayOf = (of: Shape): Shape => ({ kind: 'array', of });
const mapOf = (of: Shape): Shape => ({ kind: 'map', of });
const struct = (fields: Record<string, Shape>): Shape => ({ kind: 'struct', fields });

const descriptorShape = struct({
  mediaType: str,
  digest: str,
  size: int,
  urls: arrayOf(str),
  annotations: mapOf(str),
  data: bytes,
  platform: struct({ architecture: str, os: str, 'os.version': str, 'os.features': arrayOf(str), variant: str }),
  artifactType: str,
  newUnspecifiedField: bytes,
});

const shapes = {
  errorResponse: struct({ errors: arrayOf(struct({ code: str, message: str, detail: any })) }),
  tagList: struct({ name: str, tags: arrayOf(str) }),
  index: struct({
    schemaVersion: int,
    mediaType: str,
    artifactType: str,
    manifests: arrayOf(descriptorShape),
    subject: descriptorShape,
    annotations: mapOf(str),
  }),
};

export interface ErrorInfo {
  code?: string;
  message?: string;
  detail?: unknown;
}

export interface TagList {
  name?: string;
  tags?: string[];
}

export interface IndexDescriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface Index {
  schemaVersion?: number;
  mediaType?: string;
  manifests?: IndexDescriptor[];
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function decodeTagList(body: Buffer): Decoded<TagList> {
  return decode<TagList>(body, shapes.tagList);
}

export function decodeIndex(body: Buffer): Decoded<Index> {
  return decode<Index>(body, shapes.index);
}

/** The error list of an error body, as the suite's client reads it: valid JSON with at least one entry. */
export function decodeErrors(body: Buffer): Decoded<ErrorInfo[]> {
  const decoded = decode<{ errors?: ErrorInfo[] }>(body, shapes.errorResponse);
  if (!decoded.ok) return decoded;
  const errors = decoded.value.errors ?? [];
  if (errors.length === 0) return { ok: false, error: 'body was valid JSON but held no "errors" entries' };
  return { ok: true, value: errors };
}

function decode<T>(body: Buffer, shape: Shape): Decoded<T> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const errors: string[] = [];
  const value = convert(doc, shape, '$', errors);
  const first = errors[0];
  if (first !== undefined) return { ok: false, error: first };
  return { ok: true, value: (value ?? {}) as T };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Converts `value` to `shape`; `undefined` for JSON null (Go leaves the field as it was). Type errors are collected, not thrown. */
function convert(value: unknown, shape: Shape, path: string, errors: string[]): unknown {
  if (value === null) return undefined;
  const mismatch = (want: string) => {
    errors.push(`${path}: cannot read ${Array.isArray(value) ? 'array' : typeof value} as ${want}`);
    return undefined;
  };
  switch (shape.kind) {
    case 'any':
      return value;
    case 'string':
      return typeof value === 'string' ? value : mismatch('string');
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) ? value : mismatch('integer');
    case 'bytes':
      if (typeof value !== 'string') return mismatch('base64 string');
      if (!BASE64.test(value.replace(/[\r\n]/g, ''))) {
        errors.push(`${path}: illegal base64 data`);
        return undefined;
      }
      return Buffer.from(value, 'base64');
    case 'array':
      if (!Array.isArray(value)) return mismatch('array');
      return value.map((item, i) => convert(item, shape.of, `${path}[${i}]`, errors) ?? zero(shape.of));
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return mismatch('object');
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = convert(v, shape.of, `${path}.${k}`, errors) ?? zero(shape.of);
      return out;
    }
    case 'struct': {
      if (typeof value !== 'object' || Array.isArray(value)) return mismatch('object');
      const out: Record<string, unknown> = {};
      const names = Object.keys(shape.fields);
      for (const [key, v] of Object.entries(value)) {
        // Go prefers the exact field name, then any case-insensitive match; unknown keys are ignored
        const field = names.includes(key) ? key : names.find((n) => n.toLowerCase() === key.toLowerCase());
        if (field === undefined) continue;
        const converted = convert(v, shape.fields[field] as Shape, `${path}.${field}`, errors);
        if (converted !== undefined) out[field] = converted;
      }
      return out;
    }
  }
}

function zero(shape: Shape): unknown {
  switch (shape.kind) {
    case 'string':
      return '';
    case 'int':
      return 0;
    case 'struct':
      return {};
    case 'any':
    case 'array':
    case 'bytes':
    case 'map':
      return undefined;
  }
}

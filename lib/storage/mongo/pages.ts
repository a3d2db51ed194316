import type { Collection, Document, Filter } from 'mongodb';
import type { Page } from '../types.js';

/**
 * One page of the distinct values of `field` among `filter`'s documents, in byte order (the
 * server compares strings by their UTF-8 bytes when no collation is set), strictly after
 * `page.last`, at most `page.n`. Served by an index that starts with `filter`'s fields and ends with `field`.
 */
export async function listPage<T extends Document>(collection: Collection<T>, filter: Filter<T>, field: string & keyof T, page: Page): Promise<string[]> {
  if (page.n === 0) return []; // limit(0) would mean "no limit"
  const query = { ...filter, ...(page.last !== undefined && { [field]: { $gt: page.last } }) } as Filter<T>;
  const cursor = collection.find(query, { projection: { _id: 0, [field]: 1 } }).sort({ [field]: 1 });
  if (page.n !== undefined) cursor.limit(page.n);
  const values: string[] = [];
  for await (const doc of cursor) values.push((doc as Record<string, unknown>)[field] as string);
  return values;
}

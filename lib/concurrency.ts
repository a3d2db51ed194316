/**
 * Runs `work` over `items` with at most `limit` calls in flight, in order of the items, stopping
 * early once `work` resolves `false`. Bounds what one request can make the store do at once.
 */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<boolean>): Promise<void> {
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && next < items.length) {
      const item = items[next++] as T;
      if (!(await work(item))) stopped = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

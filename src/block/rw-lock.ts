/**
 * An asynchronous reader/writer lock. Image formats take it shared for reads and in-place writes
 * (no metadata changes) and exclusive for anything that changes metadata (allocation, discard,
 * flush, resize), so metadata is never seen half-updated. Waiters are served in arrival order, so
 * a stream of readers cannot starve a writer. Acquiring an uncontended lock does not allocate.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: { exclusive: boolean; resolve: () => void }[] = [];

  /** Takes the lock shared if that is possible at once. */
  tryShared(): boolean {
    if (this.writer || this.queue.length > 0) return false;
    this.readers++;
    return true;
  }

  shared(): Promise<void> {
    if (this.tryShared()) return Promise.resolve();
    return new Promise((resolve) => this.queue.push({ exclusive: false, resolve }));
  }

  exclusive(): Promise<void> {
    if (!this.writer && this.readers === 0 && this.queue.length === 0) {
      this.writer = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push({ exclusive: true, resolve }));
  }

  releaseShared(): void {
    this.readers--;
    if (this.readers === 0) this.grant();
  }

  releaseExclusive(): void {
    this.writer = false;
    this.grant();
  }

  private grant(): void {
    while (this.queue.length > 0 && !this.writer) {
      const head = this.queue[0];
      if (head.exclusive) {
        if (this.readers > 0) return;
        this.queue.shift();
        this.writer = true;
        head.resolve();
        return;
      }
      this.queue.shift();
      this.readers++;
      head.resolve();
    }
  }
}

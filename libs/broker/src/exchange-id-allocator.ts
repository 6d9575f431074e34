/**
 * Exchange ids of one stream. They count up and wrap at 2^32 (skipping 0 and live ids), so an id
 * is not reused for billions of exchanges: frames still in flight for a cancelled exchange can
 * never land on a new one.
 */
export class ExchangeIdAllocator {
  private next = 1;

  allocate(isLive: (id: number) => boolean): number {
    for (;;) {
      const id = this.next;
      this.next = this.next >= 0xffffffff ? 1 : this.next + 1;
      if (!isLive(id)) return id;
    }
  }
}

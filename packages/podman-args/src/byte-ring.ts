/** A window of a byte stream, cut on UTF-8 character boundaries. */
export interface RingSlice {
  /** The bytes, whole characters only. */
  readonly data: Buffer;
  /** Stream offset of the first byte of `data`. */
  readonly from: number;
  /** Stream offset just past `data` (where the next read continues). */
  readonly to: number;
  /** Bytes the caller asked for that the ring had already dropped. */
  readonly missed: number;
}

const isContinuation = (byte: number | undefined) => byte !== undefined && (byte & 0b1100_0000) === 0b1000_0000;

/** Length of the incomplete UTF-8 sequence at the end of `buf` (0 when it ends whole). */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back] as number;
    if (isContinuation(byte)) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * Keeps the last `capacity` bytes of a stream in fixed memory and counts what it
 * dropped. Reads never start or end inside a UTF-8 character.
 */
export class ByteRing {
  readonly capacity: number;
  readonly #buf: Buffer;
  #start = 0;
  #length = 0;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 4) throw new RangeError('ring capacity must be an integer >= 4');
    this.capacity = capacity;
    this.#buf = Buffer.alloc(capacity);
  }

  /** Bytes written since creation. */
  get totalBytes(): number {
    return this.#total;
  }

  /** Bytes no longer held. */
  get droppedBytes(): number {
    return this.#total - this.#length;
  }

  /** Appends bytes, dropping the oldest past capacity. */
  push(chunk: Uint8Array): void {
    this.#total += chunk.length;
    let bytes = chunk;
    if (bytes.length >= this.capacity) {
      bytes = bytes.subarray(bytes.length - this.capacity);
      this.#start = 0;
      this.#length = 0;
    }
    const end = (this.#start + this.#length) % this.capacity;
    const first = Math.min(bytes.length, this.capacity - end);
    this.#buf.set(bytes.subarray(0, first), end);
    this.#buf.set(bytes.subarray(first), 0);
    const overflow = Math.max(0, this.#length + bytes.length - this.capacity);
    this.#start = (this.#start + overflow) % this.capacity;
    this.#length = Math.min(this.capacity, this.#length + bytes.length);
  }

  /** What is held from stream offset `offset` on (default: all of it). */
  read(offset = 0): RingSlice {
    const heldFrom = this.#total - this.#length;
    const from = Math.max(offset, heldFrom);
    if (from >= this.#total) return { data: Buffer.alloc(0), from: this.#total, to: this.#total, missed: 0 };
    const skip = from - heldFrom;
    const linear = Buffer.alloc(this.#length - skip);
    const begin = (this.#start + skip) % this.capacity;
    const first = Math.min(linear.length, this.capacity - begin);
    this.#buf.copy(linear, 0, begin, begin + first);
    this.#buf.copy(linear, first, 0, linear.length - first);
    // A window cut by the ring (not by the caller's own offset) may begin mid-character.
    let lead = 0;
    if (from === heldFrom && heldFrom > 0) while (lead < 3 && isContinuation(linear[lead])) lead++;
    const tail = incompleteTail(linear.subarray(lead));
    const data = linear.subarray(lead, linear.length - tail);
    return { data, from: from + lead, to: from + lead + data.length, missed: Math.max(0, from + lead - offset) };
  }

  /** Everything held, as text. */
  text(): string {
    return this.read().data.toString('utf8');
  }
}

import { describe, expect, it } from 'vitest';
import { ByteRing } from './byte-ring';

const bytes = (s: string) => Buffer.from(s, 'utf8');

describe('ByteRing', () => {
  it('keeps everything below capacity', () => {
    const ring = new ByteRing(16);
    ring.push(bytes('hello '));
    ring.push(bytes('world'));
    expect(ring.text()).toBe('hello world');
    expect(ring.droppedBytes).toBe(0);
    expect(ring.totalBytes).toBe(11);
  });

  it('keeps the newest bytes and counts the dropped ones', () => {
    const ring = new ByteRing(8);
    for (const c of 'abcdefghijklmnop') ring.push(bytes(c));
    expect(ring.text()).toBe('ijklmnop');
    expect(ring.droppedBytes).toBe(8);
  });

  it('handles a chunk larger than the whole ring', () => {
    const ring = new ByteRing(8);
    ring.push(bytes('12'));
    ring.push(bytes('abcdefghijkl'));
    expect(ring.text()).toBe('efghijkl');
    expect(ring.droppedBytes).toBe(6);
  });

  it('never starts inside a UTF-8 character when the ring cut it', () => {
    const ring = new ByteRing(7);
    ring.push(bytes('a€€')); // 1 + 3 + 3 bytes = 7
    ring.push(bytes('b')); // drops "a": still whole
    expect(ring.text()).toBe('€€b');
    ring.push(bytes('c')); // drops the first byte of the first "€"
    const slice = ring.read();
    expect(slice.data.toString('utf8')).toBe('€bc');
    expect(slice.data.toString('utf8')).not.toContain('\uFFFD');
    expect(slice.from).toBe(4); // 9 written, 7 held (from 2), 2 continuation bytes skipped
  });

  it('never ends inside a UTF-8 character that is still arriving', () => {
    const ring = new ByteRing(64);
    const euro = bytes('€');
    ring.push(Buffer.concat([bytes('x'), euro.subarray(0, 2)]));
    expect(ring.read()).toMatchObject({ from: 0, to: 1 });
    expect(ring.text()).toBe('x');
    ring.push(euro.subarray(2));
    expect(ring.text()).toBe('x€');
  });

  it('never splits characters across many wraps', () => {
    const ring = new ByteRing(10);
    const text = 'añ€😀'.repeat(50);
    const all = bytes(text);
    for (let i = 0; i < all.length; i += 3) ring.push(all.subarray(i, i + 3));
    const out = ring.text();
    expect(out).not.toContain('\uFFFD');
    expect(text.endsWith(out)).toBe(true);
  });

  it('reads incrementally from an offset and reports what was missed', () => {
    const ring = new ByteRing(8);
    ring.push(bytes('abcd'));
    const first = ring.read(0);
    expect(first).toMatchObject({ from: 0, to: 4, missed: 0 });
    ring.push(bytes('efgh'));
    expect(ring.read(first.to).data.toString()).toBe('efgh');
    ring.push(bytes('ijklmn')); // holds "ghijklmn"
    const late = ring.read(first.to);
    expect(late.data.toString()).toBe('ghijklmn');
    expect(late.missed).toBe(2); // "ef" was dropped before the reader came back
    expect(ring.read(late.to)).toMatchObject({ data: Buffer.alloc(0), missed: 0 });
  });

  it('refuses an unusable capacity', () => {
    expect(() => new ByteRing(0)).toThrow(RangeError);
    expect(() => new ByteRing(1.5)).toThrow(RangeError);
  });
});

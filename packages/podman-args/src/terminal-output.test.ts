import { describe, expect, it } from 'vitest';
import { onExited, TerminalOutput } from './terminal-output';

describe('TerminalOutput', () => {
  it('replays the scrollback to a late listener, then streams; a disposed listener hears nothing more', () => {
    const out = new TerminalOutput(8);
    out.push(Buffer.from('hello world'), 'hello world');
    const seen: string[] = [];
    const handle = out.onData((d) => seen.push(d), { replay: true });
    out.push(Buffer.from('!'), '!');
    handle.dispose();
    out.push(Buffer.from('?'), '?');
    expect(seen).toEqual(['lo world', '!']);
    expect(out.stats).toEqual({ totalBytes: 13, droppedBytes: 5 });
  });

  it('does not call listeners for bytes that decoded to nothing yet', () => {
    const out = new TerminalOutput(64);
    const seen: string[] = [];
    out.onData((d) => seen.push(d));
    out.push(Buffer.from([0xe2]), '');
    expect(seen).toEqual([]);
  });
});

describe('onExited', () => {
  it('calls the listener once the promise resolves, unless disposed first', async () => {
    const calls: number[] = [];
    onExited(Promise.resolve(1), (v) => calls.push(v));
    onExited(Promise.resolve(2), (v) => calls.push(v)).dispose();
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toEqual([1]);
  });
});

import jsonc from 'jsonc-parser';
import { DevcontainerError } from './error';
import type { Position } from './line-index';

/**
 * The largest devcontainer.json read, in UTF-8 bytes (1 MiB). Real files are a few
 * kilobytes; the limit keeps a hostile repository from making a server parse megabytes.
 */
export const MAX_DEVCONTAINER_BYTES = 1024 * 1024;

/**
 * The deepest nesting of objects and arrays accepted (the top-level object is level 1).
 * jsonc-parser recurses per level, so 100,000 nested arrays overflow the stack; real
 * files nest a handful of levels.
 */
export const MAX_DEVCONTAINER_DEPTH = 64;

/** True when `text` encodes to more than MAX_DEVCONTAINER_BYTES of UTF-8, counted without copying it. */
export function exceedsByteLimit(text: string): boolean {
  // Every UTF-16 code unit takes at least one UTF-8 byte, so a long string is too big at once.
  if (text.length > MAX_DEVCONTAINER_BYTES) return true;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3; // the rest of the BMP, and lone surrogates (written as U+FFFD)
  }
  return bytes > MAX_DEVCONTAINER_BYTES;
}

/** The error for a file over MAX_DEVCONTAINER_BYTES. */
export function tooLargeError(file: string | undefined): DevcontainerError {
  return new DevcontainerError(
    file,
    1,
    1,
    `the file is larger than ${MAX_DEVCONTAINER_BYTES} bytes (1 MiB), the most axo reads`,
    { hint: 'A devcontainer.json is a few kilobytes: shorten it, or move it aside to start without it.' },
  );
}

// jsonc-parser's SyntaxKind is an ambient const enum, which isolatedModules cannot read.
const OPEN_BRACE = 1;
const CLOSE_BRACE = 2;
const OPEN_BRACKET = 3;
const CLOSE_BRACKET = 4;
const EOF = 17;

/**
 * Throws when objects and arrays nest deeper than MAX_DEVCONTAINER_DEPTH. It runs jsonc's
 * scanner, which loops rather than recurses, so it is safe on any input and skips strings
 * and comments exactly as the parser will.
 */
export function checkNesting(text: string, file: string | undefined, at: (offset: number) => Position): void {
  const scanner = jsonc.createScanner(text, true);
  // The closer each open level expects. A closer of the wrong kind does not end a level:
  // the parser skips it while recovering, so counting it would let `[}[}…` nest unseen.
  const open: number[] = [];
  for (let token = scanner.scan(); token !== EOF; token = scanner.scan()) {
    if (token === OPEN_BRACE || token === OPEN_BRACKET) {
      if (open.length === MAX_DEVCONTAINER_DEPTH) {
        const { line, column } = at(scanner.getTokenOffset());
        throw new DevcontainerError(file, line, column, `nested more than ${MAX_DEVCONTAINER_DEPTH} levels deep`);
      }
      open.push(token === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET);
    } else if (token === open.at(-1)) {
      open.pop();
    }
  }
}

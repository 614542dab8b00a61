// Base64 without Node's Buffer, so the client runs in browsers too.

const fromBase64Native = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64;

/** Decodes standard base64 into bytes. */
export function fromBase64(text: string): Uint8Array {
  if (fromBase64Native) return fromBase64Native(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

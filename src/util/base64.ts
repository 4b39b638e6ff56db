/** Typed arrays in JSON files (model files): base64 of their little-endian bytes. */

export const toBase64 = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** Decodes into a fresh, aligned ArrayBuffer (Buffer slices may sit at odd offsets of a pool) and wraps it. */
export function fromBase64<T>(s: string, make: (buf: ArrayBuffer) => T): T {
  const buf = Buffer.from(s, 'base64');
  const ab = new ArrayBuffer(buf.byteLength);
  new Uint8Array(ab).set(buf);
  return make(ab);
}

/**
 * Float32 arrays as text: little-endian IEEE 754 values, base64. The content model's file keeps its idf and
 * projection this way (a 20k × 64 projection is ~7 MB instead of ~25 MB of decimals), and the catalogue log carries
 * a video's vectors this way.
 */
export function float32ToBase64(a: Float32Array): string {
  const bytes = new Uint8Array(a.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i], true);
  return Buffer.from(bytes).toString("base64");
}

/** The values, or undefined when the text is not whole float32 values. */
export function base64ToFloat32(s: string): Float32Array | undefined {
  const bytes = Buffer.from(s, "base64");
  if (bytes.length % 4 !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

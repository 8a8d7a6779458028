/**
 * String-level SVG helpers. There is no DOM here (the module runs in Node and in the browser alike), so text
 * widths are estimated, and every number is printed by one function so that output is byte-identical across runs.
 */

/** Generic families only: no web font to fetch, so a chart renders the same offline. */
export const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

/** Text colour: near-black on white is 16:1, far above WCAG's 4.5:1. */
export const INK = "#222222";
/** Axis tick labels and the y label: #555 on white is 7.5:1. */
export const MUTED_INK = "#555555";
export const GRID = "#e3e3e3";
export const AXIS = "#888888";

/**
 * Escapes text for an XML attribute or text node, and drops what XML 1.0 cannot hold at all (control characters,
 * U+FFFE/U+FFFF) and lone surrogates (they would be written as invalid UTF-8): a series named from user data must
 * not break the document.
 */
export function escapeXml(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text[i] + text[i + 1];
        i++;
      } else {
        out += "\uFFFD";
      }
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\uFFFD";
      continue;
    }
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff) continue;
    switch (c) {
      case 0x26: out += "&amp;"; break;
      case 0x3c: out += "&lt;"; break;
      case 0x3e: out += "&gt;"; break;
      case 0x22: out += "&quot;"; break;
      case 0x27: out += "&#39;"; break;
      // Newlines and tabs in an attribute would be normalised to spaces by the parser anyway; say so explicitly.
      case 0x09: case 0x0a: case 0x0d: out += " "; break;
      default: out += text[i];
    }
  }
  return out;
}

/** A coordinate with at most two decimals (1/100 px is below any display's resolution), never "-0" or "NaN". */
export function num(v: number): string {
  if (!Number.isFinite(v)) return "0";
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

/**
 * Estimated width of `text` at `fontSize` px, from Arial's advance widths in em, grouped (narrow i/l/t/r, wide m/w,
 * capitals, the rest), plus 10 %: the fallback fonts run wider (DejaVu Sans by ~8 %), and labels laid out with the
 * estimate must not collide in any of them. Wide scripts (CJK and beyond U+2E80) count a full em.
 */
export function textWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) em += charEm(ch);
  return em * 1.1 * fontSize;
}

function charEm(ch: string): number {
  if (ch === " ") return 0.278;
  if ("fijlrtI!.,:;'|()[]".includes(ch)) return 0.3;
  if ("mwMW%@".includes(ch)) return 0.85;
  if (ch >= "A" && ch <= "Z") return 0.68;
  if ((ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9")) return 0.556;
  return ch.codePointAt(0)! >= 0x2e80 ? 1 : 0.6;
}

/** `text` cut with an ellipsis to fit `maxWidth` at `fontSize`; unchanged when it fits. */
export function truncate(text: string, maxWidth: number, fontSize: number): string {
  if (textWidth(text, fontSize) <= maxWidth) return text;
  const chars = [...text];
  let end = chars.length;
  while (end > 0 && textWidth(chars.slice(0, end).join("") + "…", fontSize) > maxWidth) end--;
  return chars.slice(0, end).join("").trimEnd() + "…";
}

/** An element with attributes in the given order; values are escaped, undefined ones left out. */
export function el(name: string, attrs: Record<string, string | number | undefined>, children?: string): string {
  let out = `<${name}`;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    out += ` ${key}="${typeof value === "number" ? num(value) : escapeXml(value)}"`;
  }
  return children === undefined ? `${out}/>` : `${out}>${children}</${name}>`;
}

/**
 * A value for a label or tooltip: `digits` significant digits, thousands as k/M/G above 10 000, and no exponent
 * notation for the everyday range. Locale-free, so the output is the same in every browser and in Node.
 */
export function formatValue(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return "n/a";
  if (v === 0) return "0";
  const abs = Math.abs(v);
  for (const [unit, suffix] of [[1e9, "G"], [1e6, "M"], [1e4, "k"]] as const) {
    if (abs >= unit) {
      const scaled = unit === 1e4 ? v / 1e3 : v / unit;
      return `${stripZeros(scaled.toPrecision(digits))}${suffix}`;
    }
  }
  if (abs >= 10 ** digits) return String(Math.round(v));
  return stripZeros(Number(v.toPrecision(digits)).toString());
}

function stripZeros(s: string): string {
  if (s.includes("e")) return String(Number(s));
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** WCAG relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** Black or white, whichever contrasts more with `hex` (for a value label drawn inside a bar). */
export function textOn(hex: string): string {
  const l = luminance(hex);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000000" : "#ffffff";
}

/** A width or height as given when it is a positive number, else the default. */
export function positive(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

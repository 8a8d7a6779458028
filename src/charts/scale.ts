/**
 * Scales and ticks. The tick maths is d3's (d3-array's `nice`/`ticks`: steps of 1, 2 or 5 × 10^k; d3-time's
 * `utcTicks`: whole seconds, minutes, hours, days); the mapping itself is one line and lives here.
 */
import { nice, tickStep, ticks } from "d3-array";
import { utcTicks } from "d3-time";

export interface LinearScale {
  /** Domain after rounding out to whole ticks. */
  domain: [number, number];
  ticks: number[];
  /** Data → pixel. */
  map(v: number): number;
  /** A tick label: as many decimals as the tick step needs, k/M/G for large values. */
  format(v: number): string;
}

/**
 * A linear scale over [lo, hi] onto [r0, r1], rounded out to about `count` nice ticks. A degenerate domain
 * (lo === hi, e.g. a single value or all zeros) is widened so the value sits on a visible axis instead of dividing
 * by zero. `room` (pixels) is kept free beyond the data at either end when the nice domain does not already leave
 * it (a bar chart's value labels): the domain then ends off-tick instead of jumping a whole step.
 */
export function linearScale(lo: number, hi: number, r0: number, r1: number, count: number, room = { low: 0, high: 0 }): LinearScale {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    [lo, hi] = lo === 0 ? [0, 1] : lo > 0 ? [Math.max(0, lo - pad), hi + pad] : [lo - pad, Math.min(0, hi + pad)];
  }
  const n = Math.max(2, count);
  let [a, b] = nice(lo, hi, n);
  const step = tickStep(a, b, n);
  const pixels = Math.abs(r1 - r0);
  const perPixel = (b - a) / pixels;
  if (room.high > 0 && (b - hi) / perPixel < room.high) b = hi + room.high * ((hi - a) / (pixels - room.high));
  if (room.low > 0 && (lo - a) / perPixel < room.low) a = lo - room.low * ((b - lo) / (pixels - room.low));
  // Ticks on the nice step, within whatever the domain became.
  const t = ticks(a, b, n).filter((v) => Math.abs(Math.round(v / step) * step - v) < step * 1e-6);
  const span = b - a;
  return {
    domain: [a, b],
    ticks: t.length >= 2 ? t : ticks(a, b, n),
    map: (v) => r0 + ((v - a) / span) * (r1 - r0),
    format: numberTickFormat(step, Math.max(Math.abs(a), Math.abs(b))),
  };
}

/** Decimals from the step (0.05 → 2), SI suffixes from the magnitude, so labels on one axis line up. */
function numberTickFormat(step: number, magnitude: number): (v: number) => string {
  let unit = 1;
  let suffix = "";
  if (magnitude >= 1e9) [unit, suffix] = [1e9, "G"];
  else if (magnitude >= 1e6) [unit, suffix] = [1e6, "M"];
  else if (magnitude >= 1e4) [unit, suffix] = [1e3, "k"];
  const decimals = Math.max(0, -Math.floor(Math.log10(Math.abs(step / unit)) + 1e-9));
  return (v) => {
    if (v === 0 && suffix) return "0"; // not "0k"
    const text = (v / unit).toFixed(Math.min(decimals, 20));
    return `${/^-0(\.0*)?$/.test(text) ? text.slice(1) : text}${suffix}`;
  };
}

export interface TimeAxis extends LinearScale {
  /** The second line under a tick: the UTC date at the first tick and wherever it changes, else "". */
  dateLine(v: number): string;
}

const DAY_MS = 86_400_000;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export function isoDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

export function hms(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

/**
 * A time axis over epoch ms [lo, hi]. The domain is the data's own extent (rounding a time axis out to whole
 * minutes would leave empty margins on a live chart); ticks fall on whole UTC seconds/minutes/hours. Ticks a day or
 * more apart are labelled with the date, since HH:MM:SS would read 00:00:00 on every one of them.
 */
export function timeScale(lo: number, hi: number, r0: number, r1: number, count: number): TimeAxis {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) [lo, hi] = [0, 1000];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) [lo, hi] = [lo - 30_000, hi + 30_000];
  let t = utcTicks(new Date(lo), new Date(hi), Math.max(2, count)).map((d) => d.getTime());
  // d3's steps are 1/5/15/30 s, 1/5/15/30 min, 1/3/6/12 h, ...: between two of them it may return up to twice the
  // ticks asked for, and HH:MM:SS labels would then overlap. Keep every k-th.
  const most = Math.max(2, count + 1);
  if (t.length > most) {
    const k = Math.ceil(t.length / most);
    t = t.filter((_, i) => i % k === 0);
  }
  const daily = t.length >= 2 && t[1] - t[0] >= DAY_MS;
  const span = hi - lo;
  const firstTick = t[0];
  return {
    domain: [lo, hi],
    ticks: t,
    map: (v) => r0 + ((v - lo) / span) * (r1 - r0),
    format: (v) => (daily ? isoDate(v) : hms(v)),
    dateLine: (v) => {
      if (daily) return "";
      const i = t.indexOf(v);
      if (v === firstTick || i < 0) return isoDate(v);
      return isoDate(t[i - 1]) === isoDate(v) ? "" : isoDate(v);
    },
  };
}

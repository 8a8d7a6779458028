/**
 * The two tests an experiment report needs, from sufficient statistics (counts, sums, sums of squares) so they work
 * on counters merged across replicas:
 *
 * - rates per impression (CTR, completion, likes, ...): the two-proportion z-test (pooled standard error under H0),
 *   with a Wald interval for the difference (unpooled standard error);
 * - means per impression (watch time): Welch's t-test (unequal variances, Welch–Satterthwaite degrees of freedom),
 *   with a t interval for the difference.
 *
 * No statistics package is installed and none of the JavaScript ones is both maintained and complete here (jStat's
 * last release is years old; simple-statistics has no Student-t distribution function), so the special functions
 * are the textbook ones (Numerical Recipes: log-gamma by Lanczos, the regularized incomplete gamma and beta by
 * series and Lentz continued fractions), tested against published critical values (test/experiments/stats.test.ts).
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x), x > 0 (Lanczos, g = 7: ~15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-15;
const TINY = 1e-300;

/** Regularized upper incomplete gamma Q(a, x). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    // Series for P(a, x).
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPS) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(lead) * h;
}

/** P(Z > z) for a standard normal Z, accurate far into the tail (via Q(1/2, z²/2)). */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  const half = 0.5 * gammaQ(0.5, (z * z) / 2);
  return z >= 0 ? half : 1 - half;
}

export const normalCdf = (z: number): number => 1 - normalSf(z);

/** The z with P(Z ≤ z) = p (Acklam's rational approximation, then one Halley step on normalCdf). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - lo) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Continued fraction of the incomplete beta (modified Lentz). */
function betaCf(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function betaI(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaCf(a, b, x)) / a : 1 - (front * betaCf(b, a, 1 - x)) / b;
}

/** P(T > t) for Student's t with `df` degrees of freedom (df may be fractional: Welch). */
export function studentTSf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (!Number.isFinite(df)) return normalSf(t);
  const tail = 0.5 * betaI(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? tail : 1 - tail;
}

/** The t with P(T ≤ t) = p (bisection on studentTSf, to 1e-12). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) return NaN;
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = Math.max(1, normalQuantile(p) * 2);
  while (studentTSf(hi, df) > 1 - p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (studentTSf(mid, df) > 1 - p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** One metric's comparison of a treatment with the control (treatment − control). */
export interface Comparison {
  control: number;
  treatment: number;
  /** treatment − control, with its (1 − α) confidence interval. */
  diff: number;
  ciLow: number;
  ciHigh: number;
  /** diff / control (NaN when the control is 0). */
  relative: number;
  /** z (proportions) or t (Welch). */
  statistic: number;
  /** Welch degrees of freedom; undefined for the z-test. */
  df?: number;
  /** Two-sided p-value. */
  pValue: number;
  test: "two-proportion-z" | "welch-t" | "ratio-delta-z";
}

/** Two-proportion z-test of x1/n1 (control) against x2/n2 (treatment). */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number, alpha = 0.05): Comparison {
  const p1 = n1 > 0 ? x1 / n1 : NaN;
  const p2 = n2 > 0 ? x2 / n2 : NaN;
  const diff = p2 - p1;
  const pooled = (x1 + x2) / (n1 + n2);
  const seTest = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const seCi = Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2);
  // No variation at all (both 0 % or both 100 %): no evidence of a difference.
  const z = seTest > 0 ? diff / seTest : diff === 0 ? 0 : NaN;
  const zc = normalQuantile(1 - alpha / 2);
  return {
    control: p1,
    treatment: p2,
    diff,
    ciLow: diff - zc * seCi,
    ciHigh: diff + zc * seCi,
    relative: p1 > 0 ? diff / p1 : NaN,
    statistic: z,
    pValue: Number.isNaN(z) ? NaN : Math.min(1, 2 * normalSf(Math.abs(z))),
    test: "two-proportion-z",
  };
}

/** Sample mean and (unbiased) variance from n, Σx, Σx². */
export function meanVariance(n: number, sum: number, sumSq: number): { mean: number; variance: number } {
  if (n <= 0) return { mean: NaN, variance: NaN };
  const mean = sum / n;
  // Clamp the cancellation error of Σx² − n·mean² at 0.
  const variance = n > 1 ? Math.max(0, (sumSq - n * mean * mean) / (n - 1)) : NaN;
  return { mean, variance };
}

/** Welch's t-test of control (n1, Σ, Σ²) against treatment (n2, Σ, Σ²). */
export function welchTTest(
  a: { n: number; sum: number; sumSq: number },
  b: { n: number; sum: number; sumSq: number },
  alpha = 0.05,
): Comparison {
  const { mean: m1, variance: v1 } = meanVariance(a.n, a.sum, a.sumSq);
  const { mean: m2, variance: v2 } = meanVariance(b.n, b.sum, b.sumSq);
  const s1 = v1 / a.n;
  const s2 = v2 / b.n;
  const se = Math.sqrt(s1 + s2);
  const diff = m2 - m1;
  const df = (s1 + s2) ** 2 / ((s1 * s1) / (a.n - 1) + (s2 * s2) / (b.n - 1));
  const t = se > 0 ? diff / se : diff === 0 ? 0 : NaN;
  const dfOk = Number.isFinite(df) && df > 0;
  const tc = dfOk ? studentTQuantile(1 - alpha / 2, df) : NaN;
  return {
    control: m1,
    treatment: m2,
    diff,
    ciLow: diff - tc * se,
    ciHigh: diff + tc * se,
    relative: m1 !== 0 ? diff / m1 : NaN,
    statistic: t,
    df: dfOk ? df : undefined,
    pValue: !Number.isFinite(t) ? NaN : se === 0 ? 1 : Math.min(1, 2 * studentTSf(Math.abs(t), df)),
    test: "welch-t",
  };
}

/** Per-variant sums over randomization units (users) for a ratio metric ΣX / ΣN. */
export interface RatioSums {
  /** Units (users) with at least one trial. */
  units: number;
  /** ΣX, ΣN over units, and the sums of their per-unit squares and products: Σ X_u², Σ N_u², Σ X_u·N_u. */
  sumX: number;
  sumN: number;
  sumX2: number;
  sumN2: number;
  sumXN: number;
}

/** The ratio ΣX / ΣN and its delta-method variance with the unit (user) as the independent draw. */
export function ratioVariance(s: RatioSums): { ratio: number; variance: number } {
  const k = s.units;
  if (k < 2 || s.sumN <= 0) return { ratio: s.sumN > 0 ? s.sumX / s.sumN : NaN, variance: NaN };
  const ratio = s.sumX / s.sumN;
  const mx = s.sumX / k;
  const mn = s.sumN / k;
  const vx = (s.sumX2 - k * mx * mx) / (k - 1);
  const vn = (s.sumN2 - k * mn * mn) / (k - 1);
  const cxn = (s.sumXN - k * mx * mn) / (k - 1);
  const variance = Math.max(0, (vx - 2 * ratio * cxn + ratio * ratio * vn) / (k * mn * mn));
  return { ratio, variance };
}

/**
 * Difference of two ratio metrics (clicks per impression, seconds watched per impression, ...) when users, not
 * impressions, were randomized: a user's impressions are correlated (some users click a lot), so treating every
 * impression as independent understates the variance and an A/A test "finds" differences far more often than α.
 * The delta method on per-user sums gives the right variance (Deng et al., "Applying the Delta Method in Metric
 * Analytics", 2018); z-test on the difference, the units being many.
 */
export function ratioDeltaZTest(control: RatioSums, treatment: RatioSums, alpha = 0.05): Comparison {
  const c = ratioVariance(control);
  const t = ratioVariance(treatment);
  const diff = t.ratio - c.ratio;
  const se = Math.sqrt(c.variance + t.variance);
  const z = se > 0 ? diff / se : diff === 0 && Number.isFinite(se) ? 0 : NaN;
  const zc = normalQuantile(1 - alpha / 2);
  return {
    control: c.ratio,
    treatment: t.ratio,
    diff,
    ciLow: diff - zc * se,
    ciHigh: diff + zc * se,
    relative: c.ratio !== 0 ? diff / c.ratio : NaN,
    statistic: z,
    pValue: Number.isNaN(z) ? NaN : Math.min(1, 2 * normalSf(Math.abs(z))),
    test: "ratio-delta-z",
  };
}

import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promotionGate, warmScore } from "../../src/training/registry";

/** The promotion gate on report.json alone (the activation path around it is tested in experiments-server.test.ts). */
describe("promotion gate", () => {
  let root: string;
  const bundle = async (name: string, warm?: Record<string, Record<string, number>>) => {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "report.json"), JSON.stringify(warm ? { protocols: { warm: { retrieval: warm } } } : { retrieval: {} }));
    return dir;
  };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "rf-gate-"));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it("reads the funnel's warm NDCG@20, else the two-tower's", async () => {
    expect(warmScore(await bundle("a", { funnel: { "ndcg@20": 0.3 }, twoTower: { "ndcg@20": 0.2 } }))).toEqual({ metric: "warm funnel ndcg@20", value: 0.3 });
    expect(warmScore(await bundle("b", { twoTower: { "ndcg@20": 0.2 } }))).toEqual({ metric: "warm twoTower ndcg@20", value: 0.2 });
    expect(warmScore(await bundle("c"))).toBeUndefined();
    expect(warmScore(join(root, "missing"))).toBeUndefined();
  });

  it("passes a candidate at least as good (within the tolerance), refuses a worse one", async () => {
    const active = await bundle("active", { funnel: { "ndcg@20": 0.3 } });
    expect(promotionGate(await bundle("better", { funnel: { "ndcg@20": 0.31 } }), active).passed).toBe(true);
    expect(promotionGate(await bundle("noise", { funnel: { "ndcg@20": 0.2985 } }), active, 0.01).passed).toBe(true);
    const worse = promotionGate(await bundle("worse", { funnel: { "ndcg@20": 0.29 } }), active, 0.01);
    expect(worse.passed).toBe(false);
    expect(worse.reason).toContain("worse than the active bundle's 0.3000");
  });

  it("nothing to compare with passes; a candidate without a warm report does not", async () => {
    expect(promotionGate(await bundle("first", { funnel: { "ndcg@20": 0.1 } }), undefined).passed).toBe(true);
    expect(promotionGate(await bundle("x", { funnel: { "ndcg@20": 0.1 } }), await bundle("old-no-warm")).passed).toBe(true);
    const blind = promotionGate(await bundle("blind"), await bundle("act2", { funnel: { "ndcg@20": 0.3 } }));
    expect(blind.passed).toBe(false);
    expect(blind.reason).toContain("no warm protocol");
  });
});

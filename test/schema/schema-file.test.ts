import { readFile } from "node:fs/promises";
import { buildSchema, findBreakingChanges } from "graphql";
import { describe, expect, it } from "vitest";
import { buildReelfeedSchema } from "../../src/schema/build-schema";
import { printReelfeedSchema } from "../../src/schema/print-schema";

const committedFile = new URL("../../schema.graphql", import.meta.url);

/** Breaking changes from `before` to `after`, as readable lines. */
function breakingChanges(before: string, after: ReturnType<typeof buildSchema>): string[] {
  return findBreakingChanges(buildSchema(before), after).map((c) => `${c.type}: ${c.description}`);
}

describe("schema.graphql (the partner-facing contract)", () => {
  it("matches the schema the code builds", async () => {
    const committed = await readFile(committedFile, "utf8");
    const built = await printReelfeedSchema();
    // A plain boolean keeps the message readable; the diff is one `git diff` away after regenerating.
    expect(built === committed, "schema.graphql is out of date: run `npm run schema:print` and review the diff").toBe(true);
  });

  it("has no breaking change against the committed baseline", async () => {
    const committed = await readFile(committedFile, "utf8");
    const breaking = breakingChanges(committed, await buildReelfeedSchema());
    expect(breaking, `breaking changes against schema.graphql:\n${breaking.join("\n")}`).toEqual([]);
  });

  it("the breaking-change check catches a removed field, a removed enum value and a stricter argument", async () => {
    const committed = await readFile(committedFile, "utf8");
    const built = await buildReelfeedSchema();
    // Pretend the baseline had more than the code now offers: the check must flag each difference.
    const richer = committed
      .replace("type PageInfo {", "type PageInfo {\n  startCursor: String")
      .replace("enum Surface {", "enum Surface {\n  LIVE");
    const breaking = breakingChanges(richer, built);
    expect(breaking).toEqual(
      expect.arrayContaining([expect.stringContaining("PageInfo.startCursor was removed"), expect.stringContaining("LIVE was removed from enum type Surface")]),
    );
    // And a stricter argument in the code than in the baseline.
    const looser = committed.replace("similarVideos(first: Int = 20, videoId: ID!)", "similarVideos(first: Int = 20, videoId: ID)");
    expect(looser).not.toBe(committed);
    expect(breakingChanges(looser, built).join("\n")).toMatch(/videoId/);
  });

  it("exposes no raw age and no moderation internals", async () => {
    const sdl = await printReelfeedSchema();
    const userType = /type User \{[^}]*\}/.exec(sdl)?.[0] ?? "";
    expect(userType).toContain("ageGroup: AgeGroup!");
    expect(userType).not.toMatch(/\bage:/);
    // Never readable: no output type carries them. The live catalogue's write-only inputs (VideoInput, scope
    // catalog:write: trust and safety sets them) are the one place they appear.
    expect(sdl.replace(/input \w+ \{[^}]*\}/g, "")).not.toMatch(/policyFlags|blockedRegions/);
  });
});

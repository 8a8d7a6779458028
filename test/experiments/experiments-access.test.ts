import { getOperationAST, parse, type GraphQLSchema } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { checkOperation } from "../../src/auth/operation-guard";
import { USER_SCOPES, type Principal } from "../../src/auth/principal";
import type { Scope } from "../../src/auth/scopes";
import { limitsConfigSchema } from "../../src/config";
import { ReelfeedError } from "../../src/errors";
import { buildReelfeedSchema } from "../../src/schema/build-schema";

/** experimentReport is for operators: the operation guard (before any resolver) refuses everyone without `admin`. */
let schema: GraphQLSchema;
beforeAll(async () => void (schema = await buildReelfeedSchema()));

const options = { limits: limitsConfigSchema.parse({}).query, costInputs: { candidatesToRank: 500 } };
const key = (...scopes: Scope[]): Principal => ({ kind: "key", keyId: "k", scopes: new Set(scopes) });
const REPORT = `{ experimentReport(name: "ranker-v2") { experiment decided variants { name impressions } } }`;

function check(principal: Principal): ReelfeedError | undefined {
  const document = parse(REPORT);
  try {
    checkOperation({ schema, document, operation: getOperationAST(document)! }, principal, options);
    return undefined;
  } catch (err) {
    return err as ReelfeedError;
  }
}

describe("experimentReport access", () => {
  it("an admin key may read it", () => {
    expect(check(key("admin"))).toBeUndefined();
  });

  it("a feed:read (or debug) key and a viewer's token may not", () => {
    expect(check(key("feed:read", "events:write", "debug"))?.code).toBe("FORBIDDEN");
    expect(check({ kind: "user", userId: "u1", scopes: USER_SCOPES })?.code).toBe("FORBIDDEN");
  });
});

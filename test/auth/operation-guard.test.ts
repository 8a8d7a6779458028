import { buildSchema, getIntrospectionQuery, getOperationAST, parse, type GraphQLSchema } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { checkOperation } from "../../src/auth/operation-guard";
import { OPEN_DEVELOPMENT, USER_SCOPES, type Principal } from "../../src/auth/principal";
import { checkRootFieldRules, feedCost } from "../../src/auth/root-fields";
import type { Scope } from "../../src/auth/scopes";
import { limitsConfigSchema } from "../../src/config";
import { ReelfeedError } from "../../src/errors";
import { buildReelfeedSchema } from "../../src/schema/build-schema";

let schema: GraphQLSchema;
beforeAll(async () => void (schema = await buildReelfeedSchema()));

const limits = limitsConfigSchema.parse({}).query;
const options = { limits, costInputs: { candidatesToRank: 500 } };
const key = (...scopes: Scope[]): Principal => ({ kind: "key", keyId: "k", scopes: new Set(scopes) });
const viewer = (userId: string): Principal => ({ kind: "user", userId, scopes: USER_SCOPES });

function check(query: string, principal: Principal = OPEN_DEVELOPMENT, variables?: Record<string, unknown>, opts = options): ReelfeedError | undefined {
  const document = parse(query);
  try {
    checkOperation({ schema, document, operation: getOperationAST(document)!, variables }, principal, opts);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ReelfeedError);
    return err as ReelfeedError;
  }
}

const FEED = `query($u: ID!, $d: Boolean) { feed(userId: $u, debug: $d) { edges { node { video { id creator { id } } } } } }`;

describe("operation guard: shape", () => {
  it("lets an ordinary feed query through", () => {
    expect(check(FEED, OPEN_DEVELOPMENT, { u: "u1" })).toBeUndefined();
  });

  it("lets graphql's standard introspection query through (depth 15)", () => {
    expect(check(getIntrospectionQuery())).toBeUndefined();
    expect(check(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, specifiedByUrl: true, directiveIsRepeatable: true }))).toBeUndefined();
  });

  it("refuses depth past maxDepth, counting through fragments", () => {
    // The schema has no cycle outside introspection; a lowered maxDepth shows the count through fragments.
    const low = { limits: { ...limits, maxDepth: 5 }, costInputs: options.costInputs };
    expect(check(`{ feed(userId: "u1") { ...E } } fragment E on FeedConnection { edges { node { video { creator { id } } } } }`, OPEN_DEVELOPMENT, undefined, low)).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      details: { measure: "depth", actual: 6, limit: 5 },
    });
  });

  it("refuses more aliases than maxAliases, counted where fragments are spread", () => {
    const many = `{ ${Array.from({ length: 21 }, (_, i) => `v${i}: video(id: "v1") { id }`).join(" ")} }`;
    expect(check(many)).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: { measure: "aliases", actual: 21, limit: 20 } });
    const spread = `{ a: video(id: "v1") { ...F } b: video(id: "v2") { ...F } } fragment F on Video { ${Array.from({ length: 10 }, (_, i) => `t${i}: title`).join(" ")} }`;
    expect(check(spread)).toMatchObject({ details: { measure: "aliases", actual: 22 } });
  });

  it("costs a feed field what ranking costs: 10 for 500 candidates; aliased feeds past maxCost are refused", () => {
    expect(feedCost({ candidatesToRank: 500 })).toBe(10);
    const feeds = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `f${i}: feed(userId: "u${i}") { edges { cursor } }`).join(" ")} }`;
    expect(check(feeds(5))).toBeUndefined();
    expect(check(feeds(6))).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: { measure: "cost", actual: 60, limit: 50 } });
    // A deployment that ranks more candidates per feed pays more per field.
    expect(check(feeds(2), OPEN_DEVELOPMENT, undefined, { limits, costInputs: { candidatesToRank: 2000 } })).toMatchObject({ details: { measure: "cost", actual: 80 } });
  });

  it("costs a recordEvents batch by its size", () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({ id: `e${i}`, type: "like", userId: "u1", videoId: "v1", ts: 1 }));
    const m = `mutation($e: [EventInput!]!) { recordEvents(events: $e) { accepted } }`;
    expect(check(m, OPEN_DEVELOPMENT, { e: events.slice(0, 100) })).toBeUndefined();
    expect(check(m, OPEN_DEVELOPMENT, { e: events }, { limits: { ...limits, maxCost: 10 }, costInputs: { candidatesToRank: 500 } })).toMatchObject({
      details: { measure: "cost", actual: 11 },
    });
  });
});

describe("operation guard: who may call what", () => {
  it.each([
    [`{ video(id: "v1") { id } }`, "feed:read"],
    [`{ user(id: "u1") { id } }`, "feed:read"],
    [`{ trending { video { id } } }`, "feed:read"],
    [`{ similarVideos(videoId: "v1") { video { id } } }`, "feed:read"],
    [`{ feed(userId: "u1") { edges { cursor } } }`, "feed:read"],
    [`mutation { recordEvents(events: []) { accepted } }`, "events:write"],
  ])("%s needs %s: FORBIDDEN naming the scope without it", (query, scope) => {
    expect(check(query, key("admin"))).toMatchObject({ code: "FORBIDDEN", details: { scope } });
    expect(check(query, key(scope as Scope))).toBeUndefined();
  });

  it("finds root fields inside fragments on the root type too", () => {
    const hidden = `query { ...Q } fragment Q on Query { ... on Query { video(id: "v1") { id } } }`;
    expect(check(hidden, key("events:write"))).toMatchObject({ code: "FORBIDDEN", details: { scope: "feed:read" } });
  });

  it("debug traces need the debug scope (from a literal or a variable)", () => {
    expect(check(FEED, key("feed:read"), { u: "u1", d: true })).toMatchObject({ code: "FORBIDDEN", details: { scope: "debug" } });
    expect(check(`{ feed(userId: "u1", debug: true) { edges { cursor } } }`, viewer("u1"))).toMatchObject({ details: { scope: "debug" } });
    expect(check(FEED, key("feed:read", "debug"), { u: "u1", d: true })).toBeUndefined();
    expect(check(FEED, key("feed:read"), { u: "u1", d: false })).toBeUndefined();
    // A preview records nothing (no impressions, no served marks): operators only too.
    expect(check(`{ feed(userId: "u1", preview: true) { edges { cursor } } }`, key("feed:read"))).toMatchObject({ code: "FORBIDDEN", details: { scope: "debug" } });
    expect(check(`{ feed(userId: "u1", preview: true) { edges { cursor } } }`, viewer("u1"))).toMatchObject({ details: { scope: "debug" } });
    expect(check(`{ feed(userId: "u1", preview: true) { edges { cursor } } }`, key("feed:read", "debug"))).toBeUndefined();
  });

  it("a user token reads its own feed only; a key with feed:read reads anyone's", () => {
    expect(check(FEED, viewer("u1"), { u: "u1" })).toBeUndefined();
    expect(check(FEED, viewer("u1"), { u: "u2" })).toMatchObject({ code: "FORBIDDEN", details: { argument: "userId" } });
    expect(check(`{ mine: feed(userId: "u1") { edges { cursor } } theirs: feed(userId: "u2") { edges { cursor } } }`, viewer("u1"))).toMatchObject({ code: "FORBIDDEN" });
    expect(check(FEED, key("feed:read"), { u: "u2" })).toBeUndefined();
  });

  it("a user token records its own events only", () => {
    const m = `mutation($e: [EventInput!]!) { recordEvents(events: $e) { accepted } }`;
    const ev = (userId: string, i: number) => ({ id: `e${i}`, type: "like", userId, videoId: "v1", ts: 1 });
    expect(check(m, viewer("u1"), { e: [ev("u1", 0), ev("u1", 1)] })).toBeUndefined();
    expect(check(m, viewer("u1"), { e: [ev("u1", 0), ev("u2", 1)] })).toMatchObject({ code: "FORBIDDEN", details: { argument: "events.1.userId" } });
  });

  it("refuses a root field it has no rule for (a subscription, or anything validation let through) rather than guess", () => {
    expect(check(`subscription { feed(userId: "u1") { edges { cursor } } }`)).toMatchObject({ code: "FORBIDDEN", details: { field: "feed" } });
  });

  it("leaves variables that do not coerce to execution (which refuses them before any resolver runs)", () => {
    expect(check(FEED, viewer("u1"), { u: { not: "an id" } })).toBeUndefined();
    expect(check(FEED, key("events:write"), { u: { not: "an id" } })).toMatchObject({ code: "FORBIDDEN", details: { scope: "feed:read" } });
  });
});

describe("root field rules", () => {
  it("cover every root field of the public schema", () => {
    expect(() => checkRootFieldRules(schema)).not.toThrow();
  });

  it("a root field without a rule stops the server at start-up", () => {
    const extra = buildSchema(`type Query { video(id: ID!): String  secrets: String } type Mutation { recordEvents(events: [String]): Int }`);
    expect(() => checkRootFieldRules(extra)).toThrow(expect.objectContaining({ code: "INTERNAL", message: expect.stringContaining("Query.secrets has no access rule") }));
  });
});

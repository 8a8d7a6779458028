import { parse, type OperationDefinitionNode } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { buildReelfeedSchema } from "../../src/schema/build-schema";
import { createMetricsRegistry } from "../../src/schema/metrics";
import { operationLabel } from "../../src/schema/metrics-plugin";

describe("metrics registry", () => {
  it("renders counters and cumulative histograms in the Prometheus text format", () => {
    const r = createMetricsRegistry();
    const c = r.counter("x_total", "Things.", ["kind"]);
    const hist = r.histogram("lat_seconds", "Latency.", ["op"], [0.1, 1]);
    c.inc({ kind: 'a"b\\c' });
    c.inc({ kind: 'a"b\\c' }, 2);
    hist.observe({ op: "feed" }, 0.05);
    hist.observe({ op: "feed" }, 0.5);
    hist.observe({ op: "feed" }, 3);
    expect(r.render()).toBe(
      [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{kind="a\\"b\\\\c"} 3',
        "# HELP lat_seconds Latency.",
        "# TYPE lat_seconds histogram",
        'lat_seconds_bucket{op="feed",le="0.1"} 1',
        'lat_seconds_bucket{op="feed",le="1"} 2',
        'lat_seconds_bucket{op="feed",le="+Inf"} 3',
        'lat_seconds_sum{op="feed"} 3.55',
        'lat_seconds_count{op="feed"} 3',
        "",
      ].join("\n"),
    );
  });
});

describe("rendering some series", () => {
  it("reads only the series named (a histogram by its base name), so a partial reader leaves the others' state alone", () => {
    const r = createMetricsRegistry();
    let reads = 0;
    r.gauge("since_last_read", "A gauge whose read has an effect.", () => ++reads);
    r.counter("x_total", "Things.", ["kind"]).inc({ kind: "a" });
    r.histogram("lat_seconds", "Latency.", ["op"], [1]).observe({ op: "feed" }, 0.5);
    const text = r.render(new Set(["x_total", "lat_seconds"]));
    expect(text).toContain('x_total{kind="a"} 1');
    expect(text).toContain('lat_seconds_count{op="feed"} 1');
    expect(text).not.toContain("since_last_read");
    expect(reads).toBe(0);
    expect(r.render()).toContain("since_last_read 1");
  });
});

describe("gauges", () => {
  it("read their value at each scrape", () => {
    const r = createMetricsRegistry();
    let n = 1;
    r.gauge("cache_entries", "Entries.", () => n);
    expect(r.render()).toBe("# HELP cache_entries Entries.\n# TYPE cache_entries gauge\ncache_entries 1\n");
    n = 42;
    expect(r.render()).toContain("cache_entries 42\n");
  });
});

describe("operationLabel", () => {
  let schema: Awaited<ReturnType<typeof buildReelfeedSchema>>;
  beforeAll(async () => {
    schema = await buildReelfeedSchema();
  });
  const op = (q: string) => parse(q).definitions[0] as OperationDefinitionNode;

  it("labels by root fields, sorted, never by the client's operation name", () => {
    expect(operationLabel(schema, op(`query AnythingTheClientLikes { feed(userId: "1") { modelVersion } }`))).toBe("feed");
    expect(operationLabel(schema, op(`{ video(id: "1") { id } a: similarVideos(videoId: "1") { score } }`))).toBe("similarVideos+video");
    expect(operationLabel(schema, op(`{ __schema { queryType { name } } }`))).toBe("introspection");
    expect(operationLabel(schema, op(`mutation { recordEvents(events: []) { accepted } }`))).toBe("recordEvents");
    expect(operationLabel(schema, op(`{ madeUp }`))).toBe("unknown");
    expect(operationLabel(schema, undefined)).toBe("invalid");
  });
});

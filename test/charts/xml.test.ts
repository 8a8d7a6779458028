import { describe, expect, it } from "vitest";
import { parseXml } from "./xml";

// The chart tests' well-formedness check is only as good as this parser's strictness: prove it rejects what a real
// XML parser rejects.
describe("parseXml (the charts' well-formedness check)", () => {
  it("accepts a well-formed document and decodes its references", () => {
    const root = parseXml(`<svg a="x &amp; &#60;y&#x3e;"><g><text>1 &lt; 2 &gt; 0 &quot;&apos;</text></g><rect/></svg>\n`);
    expect(root.attrs.a).toBe("x & <y>");
    expect(root.children).toHaveLength(2);
  });

  it.each([
    ["an unclosed tag", "<svg><g></svg>"],
    ["crossed tags", "<svg><g><text></g></text></svg>"],
    ["a raw < in text", "<svg><text>1 < 2</text></svg>"],
    ["a raw & in text", "<svg><text>a & b</text></svg>"],
    ["a raw & in an attribute", `<svg a="a & b"/>`],
    ["an unknown entity", "<svg><text>&nbsp;</text></svg>"],
    ["an unquoted attribute", "<svg a=1/>"],
    ["a duplicate attribute", `<svg a="1" a="2"/>`],
    ["attributes without space", `<svg a="1"b="2"/>`],
    ["a control character", "<svg><text>\u0001</text></svg>"],
    ["a lone surrogate", "<svg><text>\ud800</text></svg>"],
    ["two roots", "<svg/><svg/>"],
    ["text outside the root", "x<svg/>"],
    ["a comment (the charts write none)", "<svg><!-- c --></svg>"],
  ])("rejects %s", (_, text) => {
    expect(() => parseXml(text)).toThrow();
  });
});

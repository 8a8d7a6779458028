/**
 * A strict parser for the XML subset the charts emit (elements, attributes, text, character references; no
 * comments, CDATA, doctype or processing instructions — the charts write none, so meeting one is a failure too).
 * No XML parser is a dependency of the project, and adding one only for tests would be more weight than this:
 * it throws on anything not well-formed (unbalanced or crossed tags, unquoted or duplicate attributes, a raw `<` or
 * `&` in text or attributes, an unknown entity, characters XML 1.0 forbids, more than one root) and returns a tree to
 * query.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

const NAME = /^[A-Za-z_][\w.:-]*/;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
// Tab, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF (a valid pair is fine).
const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function decode(raw: string, where: string): string {
  if (raw.includes("<")) throw new Error(`raw '<' in ${where}`);
  if (FORBIDDEN.test(raw)) throw new Error(`a character XML 1.0 forbids in ${where}`);
  return raw.replace(/&([^;]*);|&/g, (match, body: string | undefined) => {
    if (body === undefined) throw new Error(`raw '&' in ${where}`);
    if (body in ENTITIES) return ENTITIES[body];
    const num = /^#(\d+)$/.exec(body) ?? /^#x([0-9a-fA-F]+)$/.exec(body);
    if (num) return String.fromCodePoint(parseInt(num[1], body[1] === "x" ? 16 : 10));
    throw new Error(`unknown entity &${body}; in ${where}`);
  });
}

export function parseXml(text: string): XmlElement {
  let i = 0;
  const root: XmlElement = { name: "#document", attrs: {}, children: [] };
  const stack: XmlElement[] = [root];
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const raw = text.slice(i, lt < 0 ? text.length : lt);
    if (raw.length > 0) {
      if (stack.length === 1) {
        if (raw.trim() !== "") throw new Error(`text outside the root: ${JSON.stringify(raw.slice(0, 30))}`);
      } else {
        stack[stack.length - 1].children.push(decode(raw, `text of <${stack[stack.length - 1].name}>`));
      }
    }
    if (lt < 0) break;
    i = lt + 1;
    if (text[i] === "/") {
      const m = NAME.exec(text.slice(i + 1));
      if (!m) throw new Error(`bad closing tag at ${lt}`);
      i += 1 + m[0].length;
      while (/\s/.test(text[i])) i++;
      if (text[i] !== ">") throw new Error(`bad closing tag </${m[0]} at ${lt}`);
      i++;
      const open = stack.pop();
      if (!open || open.name !== m[0] || stack.length === 0) throw new Error(`</${m[0]}> closes <${open?.name}> at ${lt}`);
      continue;
    }
    const m = NAME.exec(text.slice(i));
    if (!m) throw new Error(`bad tag at ${lt}: ${JSON.stringify(text.slice(lt, lt + 20))}`);
    i += m[0].length;
    const element: XmlElement = { name: m[0], attrs: {}, children: [] };
    for (;;) {
      const ws = /^\s*/.exec(text.slice(i))![0].length;
      i += ws;
      if (text.startsWith("/>", i)) {
        i += 2;
        break;
      }
      if (text[i] === ">") {
        i++;
        break;
      }
      if (ws === 0) throw new Error(`no space before an attribute of <${element.name}> at ${i}`);
      const a = /^([A-Za-z_][\w.:-]*)="([^"]*)"/.exec(text.slice(i));
      if (!a) throw new Error(`bad attribute in <${element.name}> at ${i}: ${JSON.stringify(text.slice(i, i + 30))}`);
      if (a[1] in element.attrs) throw new Error(`duplicate attribute ${a[1]} in <${element.name}>`);
      element.attrs[a[1]] = decode(a[2], `attribute ${a[1]} of <${element.name}>`);
      i += a[0].length;
    }
    const parent = stack[stack.length - 1];
    if (parent === root && root.children.some((c) => typeof c !== "string")) throw new Error("more than one root element");
    parent.children.push(element);
    if (!text.startsWith("/>", i - 2)) stack.push(element);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  const top = root.children.filter((c): c is XmlElement => typeof c !== "string");
  if (top.length !== 1) throw new Error("no root element");
  return top[0];
}

/** Every element below `node` (depth first, document order) named `name`. */
export function findAll(node: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (n: XmlElement) => {
    for (const c of n.children) {
      if (typeof c === "string") continue;
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(node);
  return out;
}

/** The concatenated text directly inside `node` (not its descendants). */
export function ownText(node: XmlElement): string {
  return node.children.filter((c): c is string => typeof c === "string").join("");
}

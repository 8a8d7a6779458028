import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from "graphql";

/**
 * The size of an operation as written, fragments expanded: how deep it nests, how many aliased fields it has, and
 * how many introspection lists it nests. Aliases are what let one request ask for the same expensive field many
 * times (`a: feed(...) b: feed(...)`). Introspection is the one place this schema can cycle:
 * `types { fields { type { fields { type { fields ...` multiplies ~40 types by ~10 fields per level, while the
 * standard introspection query (graphql-js, GraphiQL) nests only three lists (types > fields > args) — its depth of
 * 15 comes from `ofType` chains, which are cheap. Per-fragment results are memoised, so a document that spreads
 * fragments into each other cannot make this walk itself expensive.
 */
export interface QueryShape {
  depth: number;
  aliases: number;
  /** Most introspection list fields (types, fields, args, ...) on one path. */
  introspectionLists: number;
}

/** The list fields of the introspection types: nesting them is what multiplies. */
const INTROSPECTION_LISTS = new Set(["types", "fields", "args", "inputFields", "interfaces", "possibleTypes", "enumValues", "directives"]);

/** The standard introspection query nests three (types > fields > args); a fourth level is never needed. */
export const MAX_INTROSPECTION_LISTS = 3;

export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const out = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) out.set(def.name.value, def);
  return out;
}

export function measureOperation(operation: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>): QueryShape {
  const memo = new Map<string, QueryShape>();
  const onPath = new Set<string>();

  const EMPTY: QueryShape = { depth: 0, aliases: 0, introspectionLists: 0 };

  // `inIntrospection`: below __schema or __type, where list names mean the introspection types' lists (a field of
  // ours named `fields` elsewhere is not counted). Fragments are memoised per (name, inIntrospection).
  function walk(set: SelectionSetNode, inIntrospection: boolean): QueryShape {
    let depth = 0;
    let aliases = 0;
    let introspectionLists = 0;
    for (const sel of set.selections) {
      let inner: QueryShape;
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        const below = inIntrospection || name === "__schema" || name === "__type";
        const sub = sel.selectionSet ? walk(sel.selectionSet, below) : EMPTY;
        const list = inIntrospection && INTROSPECTION_LISTS.has(name) ? 1 : 0;
        inner = { depth: sub.depth + 1, aliases: sub.aliases + (sel.alias ? 1 : 0), introspectionLists: sub.introspectionLists + list };
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        inner = walk(sel.selectionSet, inIntrospection);
      } else {
        inner = spread(sel.name.value, inIntrospection);
      }
      depth = Math.max(depth, inner.depth);
      introspectionLists = Math.max(introspectionLists, inner.introspectionLists);
      aliases += inner.aliases;
    }
    return { depth, aliases, introspectionLists };
  }

  function spread(name: string, inIntrospection: boolean): QueryShape {
    const memoKey = `${inIntrospection ? "i" : "o"}:${name}`;
    const known = memo.get(memoKey);
    if (known) return known;
    const fragment = fragments.get(name);
    // Unknown and cyclic spreads are validation errors, reported before this runs; count them as empty.
    if (!fragment || onPath.has(memoKey)) return EMPTY;
    onPath.add(memoKey);
    const shape = walk(fragment.selectionSet, inIntrospection);
    onPath.delete(memoKey);
    memo.set(memoKey, shape);
    return shape;
  }

  return walk(operation.selectionSet, false);
}

import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from "graphql";

/**
 * The size of an operation as written, fragments expanded: how deep it nests and how many aliased fields it has.
 * Aliases are what let one request ask for the same expensive field many times (`a: feed(...) b: feed(...)`);
 * depth bounds whatever nesting a future schema allows. (Introspection's cycle, `fields { type { fields ... } }`,
 * is already refused by graphql-js's own MaxIntrospectionDepthRule during validation.) Per-fragment results are
 * memoised, so a document that spreads fragments into each other cannot make this walk itself expensive.
 */
export interface QueryShape {
  depth: number;
  aliases: number;
}

export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const out = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) out.set(def.name.value, def);
  return out;
}

export function measureOperation(operation: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>): QueryShape {
  const memo = new Map<string, QueryShape>();
  const onPath = new Set<string>();

  function walk(set: SelectionSetNode): QueryShape {
    let depth = 0;
    let aliases = 0;
    for (const sel of set.selections) {
      let inner: QueryShape;
      if (sel.kind === Kind.FIELD) {
        const sub = sel.selectionSet ? walk(sel.selectionSet) : { depth: 0, aliases: 0 };
        inner = { depth: sub.depth + 1, aliases: sub.aliases + (sel.alias ? 1 : 0) };
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        inner = walk(sel.selectionSet);
      } else {
        inner = spread(sel.name.value);
      }
      depth = Math.max(depth, inner.depth);
      aliases += inner.aliases;
    }
    return { depth, aliases };
  }

  function spread(name: string): QueryShape {
    const known = memo.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    // Unknown and cyclic spreads are validation errors, reported before this runs; count them as empty.
    if (!fragment || onPath.has(name)) return { depth: 0, aliases: 0 };
    onPath.add(name);
    const shape = walk(fragment.selectionSet);
    onPath.delete(name);
    memo.set(name, shape);
    return shape;
  }

  return walk(operation.selectionSet);
}

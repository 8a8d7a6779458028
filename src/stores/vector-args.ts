import { badInput } from "../errors";

/** Argument checks shared by both implementations, so both reject the same calls with the same errors. */
export const checkVectorArgs = {
  vector(argument: string, vector: ArrayLike<number>, dim: number): void {
    if (!vector || vector.length !== dim) {
      throw badInput(argument, `expected a vector of length ${dim}, got ${vector ? vector.length : vector}`);
    }
    for (let d = 0; d < dim; d++) {
      if (!Number.isFinite(vector[d])) throw badInput(argument, `component ${d} is not a finite number`);
    }
  },
  /** The whole batch is checked before any of it is written: a bad item must not leave the batch half applied. */
  items(items: ReadonlyArray<{ id: string; vector: ArrayLike<number> }>, dim: number): void {
    items.forEach((item, i) => {
      if (typeof item?.id !== "string" || item.id === "") throw badInput(`items[${i}].id`, "expected a non-empty string");
      checkVectorArgs.vector(`items[${i}].vector`, item.vector, dim);
    });
  },
  k(k: number): void {
    if (!Number.isInteger(k) || k < 0) throw badInput("k", `expected a non-negative integer, got ${k}`);
  },
};

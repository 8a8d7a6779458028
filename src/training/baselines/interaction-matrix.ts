/**
 * A sparse user × item matrix in both CSR (users as rows) and CSC (items as rows) form, built once from
 * interaction rows. Dense indices make the neighbourhood and EASE models plain typed-array loops.
 */
import { badInput } from "../../errors";
import type { Interactions } from "./recommender";

export interface InteractionMatrix {
  userIds: string[];
  itemIds: string[];
  userIndex: Map<string, number>;
  itemIndex: Map<string, number>;
  /** CSR: items of user u are itemsOfUser[userPtr[u] .. userPtr[u + 1]), with values userValues. */
  userPtr: Uint32Array;
  itemsOfUser: Uint32Array;
  userValues: Float64Array;
  /** CSC: users of item i are usersOfItem[itemPtr[i] .. itemPtr[i + 1]), with values itemValues. */
  itemPtr: Uint32Array;
  usersOfItem: Uint32Array;
  itemValues: Float64Array;
}

export interface InteractionMatrixOptions {
  /** Use 1 for every present pair instead of the summed weights. @default false */
  binary?: boolean;
}

/** Builds the matrix; a repeated (user, video) pair becomes one cell whose value is the sum of the weights. */
export function buildInteractionMatrix(interactions: Interactions, options: InteractionMatrixOptions = {}): InteractionMatrix {
  const { binary = false } = options;
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const userIds: string[] = [];
  const itemIds: string[] = [];
  const cells = new Map<number, Map<number, number>>();
  for (let r = 0; r < interactions.length; r++) {
    const { userId, videoId, weight = 1 } = interactions[r];
    if (!Number.isFinite(weight) || weight < 0) {
      throw badInput("interactions", `row ${r} (${userId}, ${videoId}) has weight ${weight}; expected a finite value ≥ 0`);
    }
    let u = userIndex.get(userId);
    if (u === undefined) {
      u = userIds.length;
      userIndex.set(userId, u);
      userIds.push(userId);
    }
    let i = itemIndex.get(videoId);
    if (i === undefined) {
      i = itemIds.length;
      itemIndex.set(videoId, i);
      itemIds.push(videoId);
    }
    let row = cells.get(u);
    if (!row) cells.set(u, (row = new Map()));
    row.set(i, (row.get(i) ?? 0) + weight);
  }
  const nUsers = userIds.length;
  const nItems = itemIds.length;
  let nnz = 0;
  for (const row of cells.values()) nnz += row.size;

  const userPtr = new Uint32Array(nUsers + 1);
  const itemsOfUser = new Uint32Array(nnz);
  const userValues = new Float64Array(nnz);
  const itemCounts = new Uint32Array(nItems);
  let p = 0;
  for (let u = 0; u < nUsers; u++) {
    userPtr[u] = p;
    const row = cells.get(u)!;
    const cols = [...row.keys()].sort((a, b) => a - b);
    for (const i of cols) {
      itemsOfUser[p] = i;
      userValues[p] = binary ? 1 : row.get(i)!;
      itemCounts[i]++;
      p++;
    }
  }
  userPtr[nUsers] = p;

  const itemPtr = new Uint32Array(nItems + 1);
  for (let i = 0; i < nItems; i++) itemPtr[i + 1] = itemPtr[i] + itemCounts[i];
  const fill = itemPtr.slice(0, nItems);
  const usersOfItem = new Uint32Array(nnz);
  const itemValues = new Float64Array(nnz);
  for (let u = 0; u < nUsers; u++) {
    for (let q = userPtr[u]; q < userPtr[u + 1]; q++) {
      const i = itemsOfUser[q];
      const at = fill[i]++;
      usersOfItem[at] = u;
      itemValues[at] = userValues[q];
    }
  }
  return { userIds, itemIds, userIndex, itemIndex, userPtr, itemsOfUser, userValues, itemPtr, usersOfItem, itemValues };
}

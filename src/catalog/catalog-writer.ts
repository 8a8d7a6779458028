import type { ReelEvent } from "../data/types";
import { ReelfeedError } from "../errors";
import type { EventConsumer } from "../events/consumer";
import type { IdempotentEventLog } from "../events/id-window-deduper";
import type { CatalogApplier } from "./catalog-applier";
import { changeItemId, type CatalogChange, type CatalogResult, type CatalogStatus } from "./catalog-changes";
import { validateCreatorInput, validateRemoval, validateUserInput, validateVideoInput, type CatalogCheck, type CatalogValidationOptions } from "./validate-catalog";

/**
 * The catalogue write port the GraphQL mutations and POST /catalog both call. One result per item, in input order;
 * a bad item never rejects the others.
 *
 * Durable before acknowledged: valid, new changes are appended to the catalogue log (fsync'd file log, or Redis
 * Streams) and only then answered ACCEPTED. The same process's applier (tailing that log) has applied them before
 * the answer too, so the caller's next request on this server sees them (read-your-writes); replicas see them
 * within their poll interval. A change this process already knows to do nothing — the same version again, an older
 * one, an upsert of a removed video — is answered at once (DUPLICATE, STALE, REJECTED REMOVED) without a write.
 */
export type CatalogItemKind = "video" | "removal" | "user" | "creator";

export interface CatalogWriteItem {
  kind: CatalogItemKind;
  raw: unknown;
}

export interface CatalogWriter {
  /** Validates, logs durably, waits for the local apply. Rejects only with PAYLOAD_TOO_LARGE or UNAVAILABLE (nothing logged). */
  write(items: readonly CatalogWriteItem[]): Promise<CatalogResult[]>;
  readonly maxBatch: number;
  /** Items answered since start, by status (metrics). */
  stats(): Record<CatalogStatus, number>;
}

export interface CatalogWriterOptions {
  log: IdempotentEventLog;
  applier: CatalogApplier;
  /** The consumer applying `log` in this process: the answer waits until it has applied what was written. */
  consumer?: Pick<EventConsumer, "nudge" | "catchUp">;
  /** Most items per call (GraphQL list or NDJSON lines). @default 1000 */
  maxBatch?: number;
  /** How long an answer waits for the local apply; past it the (durable) write is still ACCEPTED. @default 5000 */
  applyWaitMs?: number;
  validation?: CatalogValidationOptions;
  /**
   * True while the local apply cannot happen soon (the Redis log's circuit is open: writes are buffered locally and
   * the consumer cannot read them until Redis is back): the answer then does not wait. @default never
   */
  applyBlocked?: () => boolean;
  /** A local apply that did not finish in time (the change is durable and will be applied). @default ignore */
  onError?: (err: unknown, where: string) => void;
}

const VALIDATORS: Record<CatalogItemKind, (raw: unknown, o: CatalogValidationOptions) => CatalogCheck> = {
  video: validateVideoInput,
  removal: validateRemoval,
  user: validateUserInput,
  creator: validateCreatorInput,
};

export function createCatalogWriter(options: CatalogWriterOptions): CatalogWriter {
  const { log, applier, consumer, maxBatch = 1000, applyWaitMs = 5000, validation = {}, applyBlocked = () => false, onError = () => {} } = options;
  /**
   * Embeds the batch's videos here, once, and puts the vectors in their records: every process applying the log
   * (this one, each replica, each restart's replay) then reuses them instead of running the models again. A model
   * failure leaves the records without vectors — each applier embeds them then, and retries until it can — so it
   * never costs an acknowledged change.
   */
  const carryVectors = async (changes: CatalogChange[]): Promise<void> => {
    const uploads = changes.flatMap((change, at) => (change.kind === "video" ? [{ at, change }] : []));
    if (uploads.length === 0) return;
    try {
      const carried = await applier.carry(uploads.map(({ change }) => change.video));
      uploads.forEach(({ at, change }, j) => {
        const vectors = carried[j];
        if (vectors) changes[at] = { ...change, vectors };
      });
    } catch (err) {
      onError(err, "catalogue vectors for the log");
    }
  };
  const counts: Record<CatalogStatus, number> = { ACCEPTED: 0, DUPLICATE: 0, STALE: 0, REJECTED: 0 };
  const counted = (results: CatalogResult[]): CatalogResult[] => {
    for (const r of results) counts[r.status]++;
    return results;
  };
  return {
    maxBatch,
    stats: () => ({ ...counts }),
    async write(items) {
      if (items.length > maxBatch) {
        throw new ReelfeedError("PAYLOAD_TOO_LARGE", `batch of ${items.length} items is over the limit of ${maxBatch}`, { limit: maxBatch });
      }
      const results: CatalogResult[] = new Array(items.length);
      const toLog: CatalogChange[] = [];
      const at: number[] = [];
      const removedHere = new Set<string>();
      items.forEach((item, index) => {
        const check = VALIDATORS[item.kind](item.raw, validation);
        if (!check.ok) {
          results[index] = { index, id: check.id, status: "REJECTED", code: check.code, field: check.field, message: check.message };
          return;
        }
        const change = check.change;
        const id = changeItemId(change);
        // A removal earlier in this same batch is final too, though not applied yet.
        const standing = change.kind === "video" && removedHere.has(id) ? "removed" : applier.standing(change);
        if (change.kind === "removal") removedHere.add(id);
        switch (standing) {
          case "duplicate":
            results[index] = { index, id, status: "DUPLICATE" };
            return;
          case "stale":
            results[index] = { index, id, status: "STALE", message: `a newer version of ${id} is already applied (updatedAt compares as a version)` };
            return;
          case "removed":
            results[index] = { index, id, status: "REJECTED", code: "REMOVED", field: "id", message: `video ${id} was taken down; a removed id cannot be uploaded again` };
            return;
          case "new":
            toLog.push(change);
            at.push(index);
        }
      });
      if (toLog.length === 0) return counted(results);
      await carryVectors(toLog);
      const uploadedHere = new Set(toLog.flatMap((c) => (c.kind === "video" ? [c.video.id] : [])));
      // The log speaks ReelEvent; a change is stored as its JSON with `id` as the idempotency key (the file log and
      // the Redis script read nothing else), in a log of its own that no event consumer reads.
      const flags = await log.appendNew(toLog as unknown as ReelEvent[]);
      flags.forEach((isNew, j) => {
        const change = toLog[j];
        const index = at[j];
        const id = changeItemId(change);
        results[index] = isNew ? { index, id, status: "ACCEPTED" } : { index, id, status: "DUPLICATE" };
        if (isNew && change.kind === "removal" && !applier.hasVideo(id) && !uploadedHere.has(id)) {
          results[index] = { ...results[index], code: "NOT_IN_CATALOG", message: `no video ${id} yet: the id is blocked, an upload of it will be refused` };
        }
      });
      if (consumer && !applyBlocked()) {
        // A nudge only wakes a consumer that is sleeping; one in the middle of a pass (another writer's batch) would
        // sleep its poll interval after it before the pass this answer waits for. Nudging until then keeps the ack
        // at apply time instead of apply time + a poll interval.
        consumer.nudge();
        const nudger = setInterval(() => consumer.nudge(), 2);
        try {
          await consumer.catchUp(applyWaitMs);
        } catch (err) {
          onError(err, "catalogue apply wait");
        } finally {
          clearInterval(nudger);
        }
      }
      return counted(results);
    },
  };
}

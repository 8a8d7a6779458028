import { expect } from "vitest";
import { ReelfeedError, type ReelfeedErrorCode } from "../src/errors";

/** The ReelfeedError a promise rejects with (failing the test when it resolves or throws anything else), of `code` when given. */
export async function reelfeedErrorOf(p: Promise<unknown>, code?: ReelfeedErrorCode): Promise<ReelfeedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ReelfeedError);
  if (code) expect((err as ReelfeedError).code).toBe(code);
  return err as ReelfeedError;
}

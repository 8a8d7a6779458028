import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Runs `script` (a child printing `ACK <batch>` per acknowledged batch; test/events/kill-child.ts by default), waits
 * until `minAcks` batches are acknowledged, kill -9s it, returns the acked batch numbers.
 */
export async function ingestThenKill(args: string[], minAcks: number, script = "test/events/kill-child.ts"): Promise<{ acked: Set<number>; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const acked = new Set<number>();
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child acked only ${acked.size} batches: ${stderr}`)), 60_000);
    lines.on("line", (line) => {
      const m = /^ACK (\d+)$/.exec(line);
      if (m) acked.add(Number(m[1]));
      if (acked.size >= minAcks) {
        clearTimeout(timer);
        child.kill("SIGKILL");
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (acked.size < minAcks) reject(new Error(`child exited with ${code} after ${acked.size} acks: ${stderr}`));
    });
  });
  await exited;
  // Lines already in the pipe when the kill landed were acknowledged too.
  await new Promise((r) => setTimeout(r, 50));
  return { acked, stderr };
}

import { arch, cpus, loadavg, platform, totalmem } from "node:os";

/** What a benchmark ran on: printed with every result so numbers are never compared across machines blindly. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  totalMemGiB: number;
  node: string;
  platform: string;
  /** 1-minute load average when the benchmark started: a busy machine explains noisy numbers. */
  loadAvg1m: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? "unknown",
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${platform()}-${arch()}`,
    loadAvg1m: Math.round(loadavg()[0] * 100) / 100,
  };
}

/** One line: "2 × Intel(...) · 7.8 GiB · node v20.20.2 · linux-x64 · load 3.1". */
export function formatMachine(info: MachineInfo): string {
  return `${info.cpus} × ${info.cpuModel} · ${info.totalMemGiB} GiB · node ${info.node} · ${info.platform} · load(1m) ${info.loadAvg1m}`;
}

// The bench's build VMs: loopback sshd, by default in a CPU control group with a small share.
// They stand for other machines; here they share the server's two cores, and Linux gives each of
// their sessions (a session is an autogroup) as much CPU as the whole server process — with 16 rsync
// receivers at once the server waited on the run queue for 0.8–1.7 s of every second, so its figures
// measured the VMs' CPU, not its own. `--vms-cpu shared` keeps them beside the server as they are.
import { startBuildVms, type BuildVms, type BuildVmSpec } from "../../tests/support/build-vms";

export type VmCpu = "low" | "shared";

export async function startBenchVms(
  specs: BuildVmSpec[],
  vmCpu: VmCpu,
  log: (line: string) => void,
): Promise<{ vms: BuildVms; vmCpu: string }> {
  if (vmCpu === "low") {
    try {
      return { vms: await startBuildVms({ vms: specs, lowCpuShare: true }), vmCpu: "low share (cgroup)" };
    } catch (e) {
      log(`VMs with a low CPU share: ${(e as Error).message}; they share the CPU with the server instead`);
    }
  }
  return { vms: await startBuildVms({ vms: specs }), vmCpu: "shared" };
}

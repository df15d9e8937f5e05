"""One benchmarked system run in its own process, as the peer drivers (peer_comparison.py,
serving_throughput.py) run each: its RESULT line, plus the share of CPU time the virtual
machine's hypervisor gave to other guests meanwhile ("steal" in /proc/stat). On a shared VM the
steal explains run-to-run swings: the development machine has seen 30% stolen in one run and 4%
in the next, with step times moving alike. Linux only; elsewhere the share is None."""

import json
import subprocess
import sys

RESULT_PREFIX = "RESULT "


def result_of(command) -> dict:
  """Runs `command`; returns the JSON of its last RESULT line with cpu_steal_fraction added, or
  exits naming the command, with the end of its stderr, when it fails."""
  before = _cpu_ticks()
  process = subprocess.run(command, capture_output=True, text=True, check=False)
  after = _cpu_ticks()
  lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
  if process.returncode or not lines:
    sys.exit(f"{' '.join(map(str, command[:3]))} failed:\n{process.stderr[-3000:]}")
  result = json.loads(lines[-1][len(RESULT_PREFIX):])
  result["cpu_steal_fraction"] = None
  if before and after and after[0] > before[0]:
    result["cpu_steal_fraction"] = round((after[1] - before[1]) / (after[0] - before[0]), 3)
  return result


def print_result(result: dict):
  """The line `result_of` reads, printed by the system's process."""
  print(RESULT_PREFIX + json.dumps(result), flush=True)


def _cpu_ticks():
  """(all ticks, stolen ticks) since boot, summed over CPUs, or None without /proc/stat."""
  try:
    with open("/proc/stat", encoding="ascii") as handle:
      fields = [int(value) for value in handle.readline().split()[1:]]
  except OSError:
    return None
  # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
  return sum(fields[:8]), fields[7]

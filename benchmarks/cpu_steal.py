"""The share of CPU time a virtual machine's hypervisor gave to other guests while a benchmark ran
("steal" in /proc/stat). On a shared VM it explains run-to-run swings: the development machine
has seen 30% stolen in one run and 4% in the next, with step times moving alike. Linux only;
elsewhere the share is None."""

import contextlib


def _cpu_ticks():
  """(all ticks, stolen ticks) since boot, summed over CPUs, or None without /proc/stat."""
  try:
    with open("/proc/stat", encoding="ascii") as handle:
      fields = [int(value) for value in handle.readline().split()[1:]]
  except OSError:
    return None
  # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
  return sum(fields[:8]), fields[7]


@contextlib.contextmanager
def measured_steal(into: dict, key: str = "cpu_steal_fraction"):
  """Sets into[key] to the stolen share of CPU time during the `with` block."""
  before = _cpu_ticks()
  try:
    yield
  finally:
    after = _cpu_ticks()
    into[key] = None
    if before and after and after[0] > before[0]:
      into[key] = round((after[1] - before[1]) / (after[0] - before[0]), 3)

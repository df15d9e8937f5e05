"""A name -> factory registry that refuses duplicates and lists what exists when a name is unknown.

Follows TF Model Garden's `official/core/registry.py`: adding a task or a model is one new module plus one
`register` line, and a typo gets an error that says which names would work.
"""

from typing import Dict, Generic, TypeVar

from tfsft.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):

  def __init__(self, kind: str, flag: str):
    self._kind = kind
    self._flag = flag
    self._entries: Dict[str, T] = {}

  def register(self, name: str, entry: T) -> T:
    if name in self._entries:
      raise ValueError(f"{self._kind} '{name}' is registered twice; give the new one another name.")
    self._entries[name] = entry
    return entry

  def get(self, name: str) -> T:
    if name not in self._entries:
      raise UserError(
          f"unknown {self._kind} '{name}': choose {self._flag} from {', '.join(self.names())}")
    return self._entries[name]

  def names(self):
    return sorted(self._entries)

"""How a causal LM picks its next tokens: one frozen record, checked when it is made.

Names follow Hugging Face's `GenerationConfig` (max_new_tokens, do_sample, temperature, top_k,
top_p, num_return_sequences), so settings read the same on both sides of a comparison.
"""

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class DecodingSettings:
  """Greedy by default; `do_sample=True` draws from the processed distribution instead.

  Sampling processes the logits in Hugging Face's order: temperature, then top-k, then top-p.
  `seed` makes sampling reproducible: the same seed, prompts and model give the same tokens
  (stateless random ops, so the graph holds no random state). A row stops after the first of
  `stop_token_ids` it generates (that token is kept, the rest of the row is `pad_token_id`).
  """
  max_new_tokens: int = 32
  do_sample: bool = False
  temperature: float = 1.0
  top_k: int = 0  # keep the k most likely tokens; 0 keeps all
  top_p: float = 1.0  # keep the most likely tokens whose probabilities sum to top_p; 1.0 keeps all
  seed: int = 0
  stop_token_ids: Tuple[int, ...] = ()  # end of sequence / end of turn
  pad_token_id: int = 0  # written after a row stops; the returned padding_mask says which is which
  num_return_sequences: int = 1

  def __post_init__(self):
    # A tuple keeps the record hashable and immutable; lists and numpy arrays are welcome in.
    object.__setattr__(self, "stop_token_ids", tuple(int(i) for i in self.stop_token_ids))
    problems = []
    if self.max_new_tokens < 1:
      problems.append(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
    if self.num_return_sequences < 1:
      problems.append(f"num_return_sequences must be at least 1, got {self.num_return_sequences}")
    if not self.temperature > 0:
      problems.append(f"temperature must be above 0, got {self.temperature} (greedy is "
                      "do_sample=False)")
    if not -2**31 <= self.seed < 2**31:
      problems.append(f"seed must fit in 32 bits, got {self.seed}")
    if self.top_k < 0:
      problems.append(f"top_k must be 0 (off) or more, got {self.top_k}")
    if not 0 < self.top_p <= 1:
      problems.append(f"top_p must be in (0, 1], got {self.top_p}")
    if not self.do_sample:
      # Silently ignoring them would hide a typo'd configuration: say so instead.
      sampling_only = [f"{name}={getattr(self, name)}" for name, off in
                       (("temperature", 1.0), ("top_k", 0), ("top_p", 1.0))
                       if getattr(self, name) != off]
      if sampling_only:
        problems.append(f"{', '.join(sampling_only)} only apply with do_sample=True")
      if self.num_return_sequences > 1:
        problems.append("greedy decoding returns the same sequence every time: "
                        "num_return_sequences > 1 needs do_sample=True")
    if problems:
      raise ValueError("DecodingSettings: " + "; ".join(problems))


@dataclasses.dataclass(frozen=True)
class RequestSettings:
  """Decoding settings that arrive with a request (the `generate` signature's inputs): scalar
  tensors, checked in the graph rather than here. Temperature 0 means greedy."""
  max_new_tokens: object  # int32 scalar tensor
  temperature: object  # float32
  top_k: object  # int32; 0 keeps every token
  top_p: object  # float32; 1 keeps every token
  seed: object = 0  # int32
  stop_token_ids: Tuple[int, ...] = ()
  pad_token_id: int = 0
  num_return_sequences: int = 1

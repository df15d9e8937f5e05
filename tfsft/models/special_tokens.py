"""Which special tokens a byte-level BPE tokenizer keeps whole, and tokenizers rebuilt to keep them.

keras-hub 0.32's in-graph BPE swaps unsplittable token number i for the placeholder "Ĵ" + the
digits of i spelt A-J, and swaps them back in order, so number 1 ("ĴB") eats the start of numbers
10-19 ("ĴBA", ...): with more than 10, some special tokens come out as plain text inside tf.data,
traced functions and SavedModels (shared/models/smollm2-135m-instruct/README.md, "Special tokens
break inside tf.data"). Checkpoints list many more (SmolLM2: 17; Llama 3: 256 reserved ones), so
each loader keeps only the tokens that matter: the named ones (bos, eos, pad, unk, end of turn)
and those the chat template writes.
"""

from typing import Iterable, List, Optional, Sequence

import keras_hub
from absl import logging

MAX_UNSPLITTABLE_TOKENS = 10


def tokens_to_keep_whole(named: Iterable[str], candidates: Sequence[str],
                         chat_template: Optional[str]) -> List[str]:
  """`named` tokens first, then the `candidates` the chat template uses (in template order); at
  most MAX_UNSPLITTABLE_TOKENS, longest first: keras-hub splits on them one after another, so a
  token that is a prefix of another ("<s>" and "<s>x") must come later or it would cut the longer
  one apart."""
  template = chat_template or ""
  in_template = sorted((token for token in candidates if token in template), key=template.index)
  chosen = list(dict.fromkeys([token for token in named if token] + in_template))
  if len(chosen) > MAX_UNSPLITTABLE_TOKENS:
    logging.warning("%d special tokens to keep whole; keras-hub handles %d in graphs, so %s will "
                    "be split like text.", len(chosen), MAX_UNSPLITTABLE_TOKENS,
                    chosen[MAX_UNSPLITTABLE_TOKENS:])
    chosen = chosen[:MAX_UNSPLITTABLE_TOKENS]
  return sorted(chosen, key=len, reverse=True)


def llama3_tokenizer(vocabulary: dict, merges: Sequence[str], bos_token: str, eos_token: str,
                     keep_whole: Sequence[str]) -> keras_hub.models.Llama3Tokenizer:
  """A Llama3Tokenizer (the byte-level BPE of Llama 3, SmolLM and most GGUF files) that keeps
  exactly `keep_whole` whole."""
  return keras_hub.models.Llama3Tokenizer(
      vocabulary=vocabulary, merges=list(merges), bos_token=bos_token, eos_token=eos_token,
      misc_special_tokens=set(keep_whole), unsplittable_tokens=list(keep_whole))

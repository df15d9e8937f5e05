"""Generation for keras-hub causal LMs: one in-graph decoding loop that TF Serving's standard build
runs (no XLA ops, no Python callbacks). decoding.py explains the padding convention and costs.

  decode(causal_lm, token_ids, padding_mask, DecodingSettings(...)) -> {"token_ids", "padding_mask"}
  add_generation_endpoint(archive, causal_lm, settings)    a token-id signature on an ExportArchive
  truncate_at_stop_strings(texts, stop_strings)            stop strings, on the detokenized text

text_generation.TextGenerator wraps the loop as text in, text out (chat template, tokenizer,
detokenizer), for evaluation, the SavedModel and tfsft.generate (completions.py) alike.
"""

from tfsft.generation.decoding import decode
from tfsft.generation.export import add_generation_endpoint
from tfsft.generation.settings import DecodingSettings
from tfsft.generation.stop_strings import truncate_at_stop_strings

__all__ = ["DecodingSettings", "add_generation_endpoint", "decode", "truncate_at_stop_strings"]

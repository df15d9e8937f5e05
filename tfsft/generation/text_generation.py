"""Text in, text out, inside one graph: a user's message -> chat template -> tokens -> the decoding
loop -> detokenized completion. Training-time evaluation, `tfsft.generate` and the SavedModel's
signatures all call this one `TextGenerator`, so what is measured is what is served.

The chat template is Jinja and cannot run in a graph, but for one user message it is a constant
prefix and suffix around the message: the template is rendered once with a marker as the
message, and split there (`single_turn_format`). Multi-turn conversations are rendered in Python
(`complete_rendered` takes the rendered text).
"""

import dataclasses
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfsft.errors import UserError
from tfsft.generation.decoding import decode
from tfsft.generation.settings import DecodingSettings, RequestSettings
from tfsft.generation.stop_strings import truncate_at_stop_strings

_MESSAGE_MARKER = "\u2063tfsft-user-message\u2063"  # invisible separators: never in real text


@dataclasses.dataclass(frozen=True)
class PromptFormat:
  """A single user message becomes prefix + message + suffix."""
  prefix: str = ""
  suffix: str = ""


def single_turn_format(template) -> PromptFormat:
  """The template's rendering of one user message and the assistant's header, around it."""
  rendered = template.prompt([{"role": "user", "content": _MESSAGE_MARKER}])
  if rendered.count(_MESSAGE_MARKER) != 1:
    raise UserError(f"the chat template ({template.source}) does not write a user message "
                    "verbatim exactly once, so it cannot be applied inside the SavedModel: use a "
                    "template that renders message content as given")
  prefix, suffix = rendered.split(_MESSAGE_MARKER)
  return PromptFormat(prefix, suffix)


class TextGenerator(tf.Module):
  """`model` is a CausalLanguageModel (models/causal_lm.py); `prompt_format` is applied to
  `complete`'s prompts; prompts keep at most `max_prompt_tokens` tokens (their end)."""

  def __init__(self, model, settings: DecodingSettings, prompt_format: PromptFormat,
               max_prompt_tokens: int, stop_strings: Sequence[str] = ()):
    super().__init__(name="text_generator")
    self.model = model
    self.causal_lm = model.causal_lm
    self.tokenizer = model.tokenizer
    self.settings = settings
    self.prompt_format = prompt_format
    self.max_prompt_tokens = max_prompt_tokens
    self.stop_strings = tuple(stop_strings)
    prefix_ids = model.token_ids([prompt_format.prefix])[0] if prompt_format.prefix else []
    # Templates that write {{ bos_token }} bring their own start token.
    self._start_token_id = (model.start_token_id if model.start_token_id is not None and not
                            (len(prefix_ids) and prefix_ids[0] == model.start_token_id) else None)

  def formatted(self, prompts: tf.Tensor) -> tf.Tensor:
    return tf.strings.join([self.prompt_format.prefix, prompts, self.prompt_format.suffix])

  def prompt_token_ids(self, rendered: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Rendered prompts tf.string [batch] -> (token_ids, padding_mask) int32 [batch, longest]."""
    ids = self._token_ids(rendered)
    if self._start_token_id is not None:
      start = tf.fill([ids.nrows(), 1], tf.constant(self._start_token_id, tf.int32))
      ids = tf.concat([start, ids], axis=1)
    ids = ids[:, -self.max_prompt_tokens:]
    return ids.to_tensor(self.model.pad_token_id), tf.sequence_mask(ids.row_lengths(),
                                                                    dtype=tf.int32)

  def _token_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
    ids = self.tokenizer(texts)
    if isinstance(ids, list):  # keras-hub's eager BPE answers Python lists
      ids = tf.ragged.constant(ids, tf.int32, ragged_rank=1)
    return tf.cast(ids, tf.int32)

  def generate_token_ids(self, token_ids, padding_mask, settings=None, seed=None) -> dict:
    return decode(self.causal_lm, token_ids, padding_mask, settings or self.settings, seed=seed)

  def complete_rendered(self, rendered: tf.Tensor, settings=None, seed=None) -> dict:
    """Rendered prompts -> {"completion": tf.string [batch, num_return_sequences],
    "token_ids", "padding_mask"}: text up to (without) the stop token and stop strings."""
    settings = settings or self.settings
    token_ids, padding_mask = self.prompt_token_ids(rendered)
    generated = self.generate_token_ids(token_ids, padding_mask, settings, seed)
    ids, real = generated["token_ids"], generated["padding_mask"]
    stops = tf.constant(settings.stop_token_ids or (-1,), tf.int32)
    is_stop = tf.reduce_any(tf.equal(ids[..., tf.newaxis], stops), axis=-1)
    text_ids = tf.ragged.boolean_mask(ids, tf.logical_and(real, tf.logical_not(is_stop)))
    flat = self.tokenizer.detokenize(text_ids.merge_dims(0, 1))
    # Byte-level BPE can stop inside a character (max_new_tokens): U+FFFD instead of invalid
    # UTF-8, which JSON clients (TF Serving's REST API) cannot take.
    flat = tf.strings.unicode_transcode(flat, "UTF-8", "UTF-8", errors="replace")
    text = truncate_at_stop_strings(flat, self.stop_strings)
    completion = tf.reshape(text, [-1, settings.num_return_sequences])
    return {"completion": completion, "token_ids": ids, "padding_mask": tf.cast(real, tf.int32)}

  def complete(self, prompts: tf.Tensor, settings=None, seed=None) -> dict:
    """Users' messages (the chat template applied here) -> completions."""
    return self.complete_rendered(self.formatted(prompts), settings, seed)

  def request_settings(self, max_new_tokens, temperature, top_k, top_p, seed) -> RequestSettings:
    """A `generate` request's settings; max_new_tokens is held to [1, the model's room]."""
    room = self.model.context_length or 1 << 20
    return RequestSettings(
        max_new_tokens=tf.clip_by_value(tf.cast(max_new_tokens, tf.int32), 1,
                                        max(1, room - self.max_prompt_tokens)),
        temperature=tf.maximum(tf.cast(temperature, tf.float32), 0.0),
        top_k=tf.maximum(tf.cast(top_k, tf.int32), 0),
        top_p=tf.clip_by_value(tf.cast(top_p, tf.float32), 1e-6, 1.0),
        seed=tf.cast(seed, tf.int32), stop_token_ids=self.settings.stop_token_ids,
        pad_token_id=self.settings.pad_token_id)

  def score(self, prompts: tf.Tensor, completions: tf.Tensor) -> dict:
    """Log-likelihood of each completion after its (templated) prompt: the sum over the
    completion's tokens of log p(token | everything before), and how many tokens that is."""
    prompt_ids, prompt_mask = self.prompt_token_ids(self.formatted(prompts))
    prompt_lengths = tf.reduce_sum(prompt_mask, axis=1)
    completion_ids = self._token_ids(completions)
    prompt_ragged = tf.RaggedTensor.from_tensor(prompt_ids, lengths=prompt_lengths)
    both = tf.concat([prompt_ragged, completion_ids], axis=1)
    token_ids = both.to_tensor(self.model.pad_token_id)
    padding_mask = tf.sequence_mask(both.row_lengths(), tf.shape(token_ids)[1])
    logits = tf.cast(self.causal_lm({"token_ids": token_ids, "padding_mask": padding_mask}),
                     tf.float32)
    log_probabilities = -tf.nn.sparse_softmax_cross_entropy_with_logits(token_ids[:, 1:],
                                                                        logits[:, :-1])
    positions = tf.range(1, tf.shape(token_ids)[1])
    is_completion = tf.logical_and(positions[tf.newaxis] >= prompt_lengths[:, tf.newaxis],
                                   padding_mask[:, 1:])
    weights = tf.cast(is_completion, tf.float32)
    return {"log_likelihood": tf.reduce_sum(log_probabilities * weights, axis=1),
            "num_tokens": tf.reduce_sum(tf.cast(is_completion, tf.int32), axis=1)}


def texts(tensor) -> np.ndarray:
  """tf.string values -> Python strings, same shape."""
  return np.vectorize(lambda value: value.decode("utf-8"), otypes=[object])(np.asarray(tensor))

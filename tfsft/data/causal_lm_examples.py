"""Conversations and documents -> token ids with trained-token marks, one example at a time.

An instruction example is its conversation rendered by the chat template and cut into segments
(`ChatTemplate.segments`): the assistant's turns are trained, the rest is context (completion-only
loss, TRL's default; --train_on_prompt trains on everything). Each segment is tokenized on its
own, so the prompt's tokens are exactly the tokens the model is given at inference. A document
(language modeling) is trained everywhere, ends with the end-of-text token and is cut into
--max_seq_length pieces. Tokenization is eager and batched (one tokenizer call per few thousand
texts), once per split before training.

An example longer than --max_seq_length is truncated from the prompt side (`long_examples=
"truncate"`): its last tokens are kept when the trained part fits, otherwise half a row of
prompt and the beginning of the completion; with "drop" it is left out. Both are counted.
"""

import dataclasses
import json
from typing import Iterable, List, Optional, Sequence

import numpy as np

from tfsft.data.packing import TokenizedExample
from tfsft.errors import UserError

LONG_EXAMPLES = ("truncate", "drop")
_TOKENIZER_CHUNK = 2048  # texts per tokenizer call


@dataclasses.dataclass
class TokenCounts:
  """What tokenization did to one split, for the log and eval_results.json."""
  examples: int = 0  # kept
  truncated: int = 0
  dropped: int = 0
  tokens: int = 0
  trained_tokens: int = 0

  @property
  def trained_fraction(self) -> float:
    return self.trained_tokens / self.tokens if self.tokens else 0.0

  def __str__(self):
    return (f"{self.examples} examples, {self.tokens} tokens of which {self.trained_fraction:.1%} "
            f"are trained; {self.truncated} truncated and {self.dropped} dropped for length")


def encode_conversation(conversation, where: str = "") -> bytes:
  """One conversation (a list of {role, content}) as the text of a tf.data example; `where` (file
  and line) travels with it for errors found later, when the template renders it."""
  return json.dumps({"messages": conversation, "where": where}, ensure_ascii=False).encode("utf-8")


def decode_conversation(text: bytes):
  record = json.loads(text)
  return record["messages"], record.get("where", "")


def conversation_examples(model, encoded: Sequence[bytes], train_on_prompt: bool):
  """Tokenized examples (untruncated) of encoded conversations, in order."""
  segment_lists = []
  for text in encoded:
    messages, where = decode_conversation(text)
    segment_lists.append(model.template.segments(messages, where=where))
  ids = _tokenized([segment.text for segments in segment_lists for segment in segments], model)
  examples, next_id = [], 0
  for segments in segment_lists:
    pieces, marks = [], []
    for segment in segments:
      pieces.append(ids[next_id])
      marks.append(np.full(len(ids[next_id]), segment.trainable or train_on_prompt))
      next_id += 1
    token_ids = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros([0], np.int32)
    trained = np.concatenate(marks) if marks else np.zeros([0], bool)
    with_start = model.with_start_token(token_ids)
    if len(with_start) > len(token_ids):
      trained = np.concatenate([[train_on_prompt], trained])
    examples.append(TokenizedExample(with_start, trained.astype(bool)))
  return examples


def document_examples(model, documents: Sequence[bytes], max_length: int):
  """Trained-everywhere examples of plain-text documents, each cut into pieces of max_length."""
  ids = _tokenized([text.decode("utf-8") for text in documents], model)
  examples = []
  for document in ids:
    tokens = model.with_start_token(
        np.concatenate([document, [model.end_token_id]]).astype(np.int32))
    for start in range(0, len(tokens), max_length):
      piece = tokens[start:start + max_length]
      if len(piece) > 1:  # a lone token predicts nothing
        examples.append(TokenizedExample(piece, np.ones(len(piece), bool)))
  return examples


def fit_to_length(examples: Iterable[TokenizedExample], max_length: int, long_examples: str):
  """(examples that fit max_length, TokenCounts); see the module docstring for the rules."""
  if long_examples not in LONG_EXAMPLES:
    raise UserError(f"unknown --long_examples={long_examples}: choose from "
                    f"{', '.join(LONG_EXAMPLES)}")
  kept, counts = [], TokenCounts()
  for example in examples:
    length = len(example.token_ids)
    if length > max_length:
      if long_examples == "drop":
        counts.dropped += 1
        continue
      example = _truncated(example, max_length)
      counts.truncated += 1
    if not example.trained[1:].any():
      counts.dropped += 1  # nothing left to learn from (an empty completion)
      continue
    kept.append(example)
    counts.examples += 1
    counts.tokens += len(example.token_ids)
    counts.trained_tokens += int(example.trained[1:].sum())
  return kept, counts


def _truncated(example: TokenizedExample, max_length: int) -> TokenizedExample:
  length = len(example.token_ids)
  first_trained = int(np.argmax(example.trained)) if example.trained.any() else length
  if length - first_trained <= max_length:
    start = length - max_length  # the whole completion and the end of the prompt
  else:
    start = max(0, first_trained - max_length // 2)
  end = start + max_length
  return TokenizedExample(example.token_ids[start:end], example.trained[start:end])


def _tokenized(texts: List[str], model) -> List[np.ndarray]:
  ids = []
  for start in range(0, len(texts), _TOKENIZER_CHUNK):
    ids += model.token_ids(texts[start:start + _TOKENIZER_CHUNK])
  return ids


def prompt_and_reference(model, encoded: bytes) -> Optional[tuple]:
  """(the prompt for the last assistant turn, that turn's text) of an encoded conversation, or
  None when it does not end with the assistant: what generation is scored on."""
  messages, where = decode_conversation(encoded)
  if len(messages) < 2 or messages[-1]["role"] != "assistant":
    return None
  return model.template.prompt(messages[:-1], where=where), messages[-1]["content"]

"""Completions for prompts or conversations from any of three sources, for `tfsft.generate`:

  a model_dir     the latest checkpoint of a tfsft.train run (its template, its task's format)
  a SavedModel    a tfsft export, through its `generate` signature (what TF Serving runs)
  a checkpoint    any --init_checkpoint tfsft.train takes (a base model, before fine-tuning)

A row is {"prompt": text} (a user's message; the chat template is applied) or {"messages": [...]}
(a whole conversation, rendered by the template in Python: model_dir and checkpoint only).
"""

import dataclasses
import json
import os
from typing import Iterator, List, Optional

from tfsft.config import ModelConfig
from tfsft.errors import UserError
from tfsft.serving.loading import load_signatures


@dataclasses.dataclass(frozen=True)
class Request:
  max_new_tokens: int = 64
  temperature: float = 0.0  # 0: greedy
  top_k: int = 0
  top_p: float = 1.0
  seed: int = 0
  num_return_sequences: int = 1


def read_rows(path: str) -> List[dict]:
  """Prompts from a text file (one per line) or conversations/prompts from JSON Lines."""
  if not os.path.isfile(path):
    raise UserError(f"--input_file={path} does not exist: pass a text or JSON Lines file")
  rows = []
  with open(path, encoding="utf-8") as handle:
    for number, line in enumerate(handle, 1):
      if not line.strip():
        continue
      if not path.endswith(".jsonl"):
        rows.append({"prompt": line.rstrip("\r\n")})
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError as error:
        raise UserError(f"{path}:{number} is not valid JSON ({error.msg}): fix the line") from None
      if not isinstance(row, dict) or not (isinstance(row.get("prompt"), str)
                                           or isinstance(row.get("messages"), list)):
        raise UserError(f"{path}:{number} has neither a 'prompt' text nor a 'messages' list: "
                        'write {"prompt": "..."} or {"messages": [{"role": "user", ...}]}')
      rows.append(row)
  if not rows:
    raise UserError(f"--input_file={path} has no prompts")
  return rows


class Completer:
  """complete(rows, request) -> one output row per input row, with `completion` (a list when
  request.num_return_sequences > 1)."""

  def __init__(self, model_dir: Optional[str] = None, saved_model: Optional[str] = None,
               init_checkpoint: Optional[str] = None, adapters: Optional[str] = None,
               chat_template: Optional[str] = None,
               max_prompt_tokens: Optional[int] = None, apply_chat_template: bool = True,
               stop_strings=()):
    given = [name for name, value in (("--model_dir", model_dir), ("--saved_model", saved_model),
                                      ("--init_checkpoint", init_checkpoint)) if value]
    if len(given) != 1:
      raise UserError(f"pass exactly one of --model_dir, --saved_model and --init_checkpoint "
                      f"(got {', '.join(given) or 'none'})")
    if adapters and not init_checkpoint:
      raise UserError("--adapters go on a base model: pass --init_checkpoint with them (a "
                      "--model_dir or SavedModel has its adapters already)")
    self._signature = self._generator = self._model = None
    if saved_model:
      if stop_strings:
        raise UserError("--stop_string needs --model_dir or --init_checkpoint (a SavedModel's "
                        "stop strings are fixed at export)")
      self._signature = _generate_signature(saved_model)
    else:
      import tensorflow as tf
      self._model, self._generator = _python_generator(model_dir, init_checkpoint, adapters,
                                                       chat_template, max_prompt_tokens,
                                                       apply_chat_template, tuple(stop_strings))
      # Traced once per decoding settings, as the export traces it.
      self._complete_rendered = tf.function(self._generator.complete_rendered)

  def complete(self, rows: List[dict], request: Request, batch_size: int = 8) -> Iterator[dict]:
    for start in range(0, len(rows), batch_size):
      batch = rows[start:start + batch_size]
      completions = (self._from_saved_model(batch, request) if self._signature
                     else self._from_python(batch, request))
      for row, completion in zip(batch, completions):
        yield {**row, "completion": completion[0] if request.num_return_sequences == 1
               else list(completion)}

  def _from_saved_model(self, batch, request):
    import tensorflow as tf
    if request.num_return_sequences != 1:
      raise UserError("--num_return_sequences > 1 needs --model_dir or --init_checkpoint (a "
                      "SavedModel's generate signature returns one completion per prompt)")
    if any("prompt" not in row for row in batch):
      raise UserError("a SavedModel applies its chat template to one user message: give rows "
                      "with 'prompt', or use --model_dir for whole conversations")
    outputs = self._signature(
        prompt=tf.constant([row["prompt"] for row in batch]),
        max_new_tokens=tf.constant(request.max_new_tokens, tf.int32),
        temperature=tf.constant(request.temperature, tf.float32),
        top_k=tf.constant(request.top_k, tf.int32), top_p=tf.constant(request.top_p, tf.float32),
        seed=tf.constant(request.seed, tf.int32))
    return [[text.decode("utf-8")] for text in outputs["completion"].numpy()]

  def _from_python(self, batch, request):
    import tensorflow as tf
    from tfsft.generation.text_generation import texts
    from tfsft.models.causal_lm import decoding_settings
    settings = dataclasses.replace(
        decoding_settings(ModelConfig(max_new_tokens=request.max_new_tokens,
                                      temperature=request.temperature, top_k=request.top_k,
                                      top_p=request.top_p),
                          self._model.stop_token_ids, self._model.pad_token_id),
        seed=request.seed, num_return_sequences=request.num_return_sequences)
    rendered = []
    for number, row in enumerate(batch, 1):
      if "messages" in row:
        rendered.append(self._model.template.prompt(row["messages"], where=f"row {number}"))
      else:
        rendered.append(self._generator.formatted(tf.constant([row["prompt"]]))[0].numpy()
                        .decode("utf-8"))
    outputs = self._complete_rendered(tf.constant(rendered), settings)
    return texts(outputs["completion"]).tolist()


def _generate_signature(saved_model: str):
  return load_signatures(saved_model, ["generate"],
                         "the export of a causal LM (--model=causal_lm)")["generate"]


def _python_generator(model_dir, init_checkpoint, adapters, chat_template, max_prompt_tokens,
                      apply_chat_template, stop_strings):
  from tfsft.generation.text_generation import PromptFormat, TextGenerator, single_turn_format
  if model_dir:
    from tfsft.model_dir import load_trained_model
    trained = load_trained_model(model_dir)
    if trained.config.model.model != "causal_lm":
      raise UserError(f"--model_dir={model_dir} holds a --model={trained.config.model.model} run: "
                      "tfsft.generate needs a causal_lm run (use tfsft.predict for the others)")
    return trained.encoder, trained.task.generator(trained.encoder, stop_strings)
  from tfsft.models import causal_lm
  model = causal_lm.build(ModelConfig(model="causal_lm", init_checkpoint=init_checkpoint,
                                      chat_template=chat_template,
                                      max_seq_length=max_prompt_tokens))
  if adapters:
    from tfsft.peft import hugging_face
    hugging_face.apply_adapters(adapters, model.causal_lm.backbone)
  prompt_format = single_turn_format(model.template) if apply_chat_template else PromptFormat()
  return model, TextGenerator(model, model.decoding, prompt_format, model.max_prompt_tokens,
                              stop_strings)

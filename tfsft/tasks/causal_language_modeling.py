"""Generative fine-tuning of causal LMs (--model=causal_lm): instruction tuning and language
modeling.

Run (SmolLM2-135M-Instruct taught English -> French from fra.txt; about 12 minutes on 2 CPU cores):
  python -m tfsft.train --task=instruction_tuning --model=causal_lm \
      --init_checkpoint=../shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct-Q4_1.gguf \
      --text_from_task=translation --data_path=../shared/data/fra_eng/fra.txt \
      --prompt_template="Translate to French: {source}" --max_train_examples=800 \
      --max_seq_length=64 --batch_size=8 --num_epochs=1 --learning_rate=2e-4 \
      --model_dir=runs/smollm2_fra
Measured (docs/benchmarks.md, benchmarks/translation_bleu.py): on 100 unseen sentences through
the SavedModel, BLEU 0.8 / chrF 13.7 before fine-tuning, 7.3 / 28.3 after. Short pairs like these are batched best by length (94% of positions real);
--packing pays off on longer, varied examples (Alpaca at 512: 98% against 86%).

  instruction_tuning   conversations from --data_path (Alpaca, prompt/completion or messages
                       JSON / JSON Lines; data/instructions.py), or any task's (text, target)
                       examples through --text_from_task and --prompt_template; loss on the
                       assistant's turns only unless --train_on_prompt
  language_modeling    plain text (--data_path: a .txt file, one document per line, or a folder
                       of .txt files, one document each; or --text_from_task's texts); loss on
                       every token

Examples are tokenized one by one before batching (data/causal_lm_examples.py), then packed
(--packing) or grouped by length and padded per batch (data/token_batches.py); the loss is the
mean over the trained tokens of the global batch (models/causal_lm_forward.NextTokenModel).
Evaluation: loss, perplexity and accuracy over the trained tokens, then --eval_generate_examples
validation prompts answered by the export's own decoding and scored against their references
(exact match, BLEU, ROUGE-L). The SavedModel's signatures are listed in `serving_endpoints`.
"""

import dataclasses
import glob
import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig, TrainConfig
from tfsft.data import causal_lm_examples, instructions, splits, token_batches
from tfsft.data.text_files import read_utf8
from tfsft.errors import UserError
from tfsft.generation.text_generation import (PromptFormat, TextGenerator, single_turn_format,
                                              texts)
from tfsft.metrics.generation import generation_scores
from tfsft.models.causal_lm_forward import NextTokenModel, can_pack, next_token_loss_terms
from tfsft.tasks.base import Task, TrainingBatches

_SAMPLES_IN_TENSORBOARD = 8


@dataclasses.dataclass
class TokenizedSplit:
  """An evaluation split of a causal-LM task, tokenized once."""
  batches: token_batches.Batches
  counts: causal_lm_examples.TokenCounts
  generation: List[tuple]  # (rendered prompt, reference) pairs scored by generation


class CausalLmTask(Task):
  model_kind = "causal_lm"
  default_model = "causal_lm"
  default_max_seq_length = 512
  applies_chat_template = True  # whether serving prompts are users' messages (else raw text)

  def __init__(self, data_config: DataConfig = DataConfig()):
    super().__init__(data_config)
    self._generators = {}  # CausalLanguageModel id -> traced generation, reused by evaluations
    self._loss_terms = None

  @property
  def input_names(self):
    return ("prompt",)

  def check_flags(self, config: TrainConfig):
    if self.data_config.long_examples not in causal_lm_examples.LONG_EXAMPLES:
      raise UserError(f"unknown --long_examples={self.data_config.long_examples}: choose from "
                      f"{', '.join(causal_lm_examples.LONG_EXAMPLES)}")

  # Data -------------------------------------------------------------------------------------------

  def tokenized(self, model, texts_: List[bytes], max_length: int) -> list:
    """The examples of a split's texts (abstract: conversations or documents)."""
    raise NotImplementedError

  def _examples(self, model, examples: tf.data.Dataset, config: TrainConfig, split: str):
    raw = [text for text, _ in examples.as_numpy_iterator()]
    max_length = config.model.max_seq_length
    kept, counts = causal_lm_examples.fit_to_length(
        self.tokenized(model, raw, max_length), max_length, self.data_config.long_examples)
    logging.info("%s: %s.", split, counts)
    if not kept:
      raise UserError(f"no {split} example is left to learn from ({counts}): raise "
                      "--max_seq_length, use --long_examples=truncate, or check that the "
                      "examples have answers")
    return raw, kept, counts

  def training_batches(self, encoder, examples, count, config: TrainConfig) -> TrainingBatches:
    _, kept, counts = self._examples(encoder, examples, config, "train")
    batch_size = config.runtime.batch_size
    pad = encoder.pad_token_id
    if self.data_config.packing:
      if not can_pack(encoder.backbone):
        raise UserError(f"--packing needs decoder layers that take an attention mask; "
                        f"{type(encoder.backbone).__name__}'s do not: train without --packing")
      batches = token_batches.packed_batches(kept, config.model.max_seq_length, batch_size, pad,
                                             training=True)
    else:
      grouped = self.group_by_length
      batches = token_batches.length_grouped_batches(
          kept, batch_size, pad, training=True, max_width=config.model.max_seq_length,
          pad_to_multiple=self.pad_to_multiple, seed=config.runtime.seed,
          megabatch=token_batches.MEGABATCH if grouped else 1)
    logging.info("Training rows are %.1f%% real tokens (%s); %d batches of %d rows per pass.",
                 100 * batches.fill, "packed" if self.data_config.packing else
                 f"{'grouped by length' if grouped else 'in shuffled order'}, padded per batch",
                 batches.count, batch_size)
    if batches.count == 0:
      raise UserError(f"{counts.examples} training examples make no full batch of --batch_size="
                      f"{batch_size} rows: lower --batch_size or add data")
    return TrainingBatches(batches.dataset, batches.count, batches.fill,
                           batches.real_tokens_per_batch)

  def evaluation_split(self, encoder, examples, count, config: TrainConfig) -> TokenizedSplit:
    raw, kept, counts = self._examples(encoder, examples, config, "evaluation")
    batches = token_batches.length_grouped_batches(
        kept, config.runtime.batch_size, encoder.pad_token_id, training=False,
        max_width=config.model.max_seq_length, pad_to_multiple=self.pad_to_multiple)
    wanted = config.runtime.eval_generate_examples
    generation = [pair for pair in (self.generation_pair(encoder, text) for text in raw[:wanted])
                  if pair is not None]
    return TokenizedSplit(batches, counts, generation)

  def generation_pair(self, model, text: bytes) -> Optional[tuple]:
    """(rendered prompt, reference) to score generation on, or None."""
    return None

  def warmup_inputs(self, validation):
    rows = [text for text, _ in validation.take(4).as_numpy_iterator()]
    return {"prompt": [self.serving_prompt(text) for text in rows]}

  def serving_prompt(self, text: bytes) -> str:
    """A realistic serving input made from one example."""
    raise NotImplementedError

  # Model ------------------------------------------------------------------------------------------

  def build_model(self, encoder, config, label_names):
    return NextTokenModel(encoder.causal_lm)

  def loss(self):
    return None  # NextTokenModel.compute_loss

  def training_metrics(self):
    return []  # NextTokenModel tracks perplexity itself

  def generator(self, model, stop_strings=()) -> TextGenerator:
    """Text in, text out for this task: users' messages in the chat template, or raw text."""
    prompt_format = single_turn_format(model.template) if self.applies_chat_template \
        else PromptFormat()
    return TextGenerator(model, model.decoding, prompt_format, model.max_prompt_tokens,
                         stop_strings)

  # Evaluation -------------------------------------------------------------------------------------

  def evaluate(self, model, encoder, split: TokenizedSplit, label_names) -> Dict:
    if self._loss_terms is None:
      self._loss_terms = tf.function(_loss_terms, reduce_retracing=True)
    totals = np.zeros(3)
    for features in split.batches.dataset():
      totals += [float(value) for value in self._loss_terms(model, features)]
    loss_sum, correct, tokens = totals
    loss = float(loss_sum / max(tokens, 1))
    results = {"loss": loss, "perplexity": float(np.exp(loss)),
               "token_accuracy": float(correct / max(tokens, 1)), "trained_tokens": int(tokens),
               "trained_fraction": split.counts.trained_fraction}
    if split.generation:
      results.update(self._generation_results(encoder, split.generation))
    return results

  def _generation_results(self, encoder, pairs) -> Dict:
    generate = self._generators.get(id(encoder))
    if generate is None:
      generator = self.generator(encoder)
      generate = tf.function(generator.complete_rendered,
                             input_signature=[tf.TensorSpec([None], tf.string)])
      self._generators[id(encoder)] = generate
    prompts, references = [p for p, _ in pairs], [r for _, r in pairs]
    predictions = []
    batch = 8
    for start in range(0, len(prompts), batch):
      completions = generate(tf.constant(prompts[start:start + batch]))["completion"]
      predictions += list(texts(completions)[:, 0])
    scores = generation_scores(predictions, references)
    return {**{f"generated_{name}": value for name, value in scores.items()},
            "generated_examples": len(predictions),
            "samples": [{"prompt": p, "reference": r, "generated": g} for p, r, g in
                        zip(prompts[:_SAMPLES_IN_TENSORBOARD], references, predictions)]}

  def text_summaries(self, results, label_names):
    if not results.get("samples"):
      return {}
    cell = lambda text: text.replace("|", "\\|").replace("\n", "<br>")
    rows = [f"| {cell(row['prompt'][-300:])} | {cell(row['reference'])} | {cell(row['generated'])} |"
            for row in results["samples"]]
    return {"eval/generated": "\n".join(["| prompt (end) | reference | generated |",
                                         "|---|---|---|"] + rows)}

  # Serving ----------------------------------------------------------------------------------------

  def serving_trackables(self, encoder):
    return [encoder.tokenizer]

  def serving_endpoints(self, model, encoder, label_names):
    """serving_default   prompt -> completion (the export's decoding settings)
    generate          prompt + max_new_tokens, temperature (0: greedy), top_k, top_p, seed
                      (scalars, per request) -> completion
    generate_token_ids  token_ids, padding_mask -> token_ids, padding_mask [batch, 1, new]
    score             prompt, completion -> log_likelihood, num_tokens
    tokenize          prompt -> token_ids, padding_mask (the templated prompt)"""
    generator = self.generator(encoder)
    strings = tf.TensorSpec([None], tf.string, name="prompt")

    def serving_default(prompt):
      return {"completion": generator.complete(prompt)["completion"][:, 0]}

    def generate(prompt, max_new_tokens, temperature, top_k, top_p, seed):
      settings = generator.request_settings(max_new_tokens, temperature, top_k, top_p, seed)
      return {"completion": generator.complete(prompt, settings)["completion"][:, 0]}

    def generate_token_ids(token_ids, padding_mask):
      generated = generator.generate_token_ids(token_ids, padding_mask)
      return {"token_ids": generated["token_ids"],
              "padding_mask": tf.cast(generated["padding_mask"], tf.int32)}

    def score(prompt, completion):
      return generator.score(prompt, completion)

    def tokenize(prompt):
      token_ids, padding_mask = generator.prompt_token_ids(generator.formatted(prompt))
      return {"token_ids": token_ids, "padding_mask": padding_mask}

    scalar = lambda dtype, name: tf.TensorSpec([], dtype, name=name)
    ids = [tf.TensorSpec([None, None], tf.int32, name=name) for name in ("token_ids", "padding_mask")]
    return {
        "serving_default": (serving_default, [strings]),
        "generate": (generate, [strings, scalar(tf.int32, "max_new_tokens"),
                                scalar(tf.float32, "temperature"), scalar(tf.int32, "top_k"),
                                scalar(tf.float32, "top_p"), scalar(tf.int32, "seed")]),
        "generate_token_ids": (generate_token_ids, ids),
        "score": (score, [strings, tf.TensorSpec([None], tf.string, name="completion")]),
        "tokenize": (tokenize, [strings]),
    }

  # Unused parts of the encoder-task contract.

  def predict(self, model, encoder, features, label_names):
    raise NotImplementedError("causal LMs serve through serving_endpoints")


def _loss_terms(model, features):
  """(summed cross-entropy, correctly predicted, trained tokens) of one evaluation batch."""
  logits = model(features, training=False)
  total, count = next_token_loss_terms(logits, features["token_ids"], features["segment_ids"],
                                       features["trained"])
  targets = features["token_ids"][:, 1:]
  same = tf.logical_and(tf.equal(features["segment_ids"][:, 1:], features["segment_ids"][:, :-1]),
                        features["segment_ids"][:, 1:] > 0)
  weights = tf.cast(tf.logical_and(same, features["trained"][:, 1:] > 0), tf.float32)
  predicted = tf.argmax(logits[:, :-1], axis=-1, output_type=tf.int32)
  correct = tf.reduce_sum(tf.cast(tf.equal(predicted, targets), tf.float32) * weights)
  return total, correct, count


class InstructionTuningTask(CausalLmTask):
  name = "instruction_tuning"

  def check_flags(self, config):
    super().check_flags(config)
    data = self.data_config
    if data.text_from_task and not data.prompt_template:
      raise UserError(f"--text_from_task={data.text_from_task} needs --prompt_template, e.g. "
                      "--prompt_template=\"Translate to French: {source}\"")
    if data.prompt_template and not data.text_from_task:
      raise UserError("--prompt_template turns another task's examples into instructions: pass "
                      "--text_from_task=<task> too (files with instructions need no template)")
    if not data.text_from_task and not data.data_path:
      raise UserError("--task=instruction_tuning reads local files: pass --data_path=<a JSON / "
                      "JSON Lines file or a folder with train.jsonl>, or --text_from_task=<task> "
                      "with --prompt_template")

  def load_data(self, config, seed):
    if config.text_from_task:
      return _from_other_task(config, seed, self._pairs_to_conversations)
    files = instructions.load(config.data_path)
    datasets = {name: _dataset([causal_lm_examples.encode_conversation(c) for c in file.conversations],
                               file.locations) if file else None
                for name, file in (("train", files.train), ("validation", files.validation),
                                   ("test", files.test))}
    return splits.from_files(config, seed, datasets["train"], datasets["validation"],
                             datasets["test"], label_names=(), source=files.source)

  def _pairs_to_conversations(self, split: tf.data.Dataset, label_names) -> tf.data.Dataset:
    pairs = []
    for text, target in split.as_numpy_iterator():
      if isinstance(text, tuple):
        raise UserError("--text_from_task gives text pairs: --prompt_template has one {source}; "
                        "choose a single-text task")
      pairs.append((text, label_names[target] if label_names else target))
    conversations = instructions.conversations_from_pairs(pairs, self.data_config.prompt_template)
    return _dataset([causal_lm_examples.encode_conversation(c) for c in conversations])

  def tokenized(self, model, texts_, max_length):
    return causal_lm_examples.conversation_examples(model, texts_, self.data_config.train_on_prompt)

  def generation_pair(self, model, text):
    return causal_lm_examples.prompt_and_reference(model, text)

  def serving_prompt(self, text):
    messages, _ = causal_lm_examples.decode_conversation(text)
    users = [message["content"] for message in messages if message["role"] == "user"]
    return users[-1] if users else messages[0]["content"]


class LanguageModelingTask(CausalLmTask):
  name = "language_modeling"
  applies_chat_template = False

  def check_flags(self, config):
    super().check_flags(config)
    if not self.data_config.text_from_task and not self.data_config.data_path:
      raise UserError("--task=language_modeling reads plain text: pass --data_path=<a .txt file "
                      "(a document per line) or a folder of .txt files>, or --text_from_task=<task>")

  def load_data(self, config, seed):
    if config.text_from_task:
      return _from_other_task(config, seed, lambda split, _: split.map(lambda text, target: (
          text, tf.constant(b""))))
    documents, source = _read_documents(config.data_path)
    return splits.from_files(config, seed, _dataset(documents), None, None, label_names=(),
                             source=source)

  def tokenized(self, model, texts_, max_length):
    return causal_lm_examples.document_examples(model, texts_, max_length)

  def serving_prompt(self, text):
    return " ".join(text.decode("utf-8").split()[:12])


def _dataset(texts_: List[bytes], locations: Optional[List[str]] = None) -> tf.data.Dataset:
  """(text, location) examples: the location (file and line) is the target slot's only use."""
  locations = locations or [""] * len(texts_)
  return tf.data.Dataset.from_tensor_slices(
      (tf.constant(texts_, tf.string, shape=[len(texts_)]),
       tf.constant(locations, tf.string, shape=[len(texts_)])))


def _from_other_task(config, seed, convert) -> splits.LabeledTextSplits:
  from tfsft.tasks import TASKS  # the registry imports this module
  if config.text_from_task in ("instruction_tuning", "language_modeling"):
    raise UserError(f"--text_from_task={config.text_from_task} is a causal-LM task itself: name a "
                    "task with (text, target) examples, e.g. translation or imdb")
  other = TASKS.get(config.text_from_task)(config)
  data = other.load_data(config, seed)
  converted = {name: convert(split, data.label_names) if split is not None else None
               for name, split in (("train", data.train), ("validation", data.validation),
                                   ("test", data.test))}
  return splits.LabeledTextSplits(
      train=converted["train"], validation=converted["validation"], test=converted["test"],
      label_names=(), source=f"{data.source}, as --task={config.text_from_task} examples")


def _read_documents(data_path: str):
  """Documents from a .txt file (one per non-blank line) or a folder of .txt files (one each)."""
  if os.path.isdir(data_path):
    paths = sorted(glob.glob(os.path.join(data_path, "**", "*.txt"), recursive=True))
    if not paths:
      raise UserError(f"--data_path={data_path} has no .txt files: add some, or pass one file")
    documents = [read_utf8(path) for path in paths]
    source = f"{len(paths)} text files under {data_path} (one document each)"
  elif os.path.isfile(data_path):
    documents = read_utf8(data_path).splitlines()
    source = f"local file {data_path} (one document per line)"
  else:
    raise UserError(f"--data_path={data_path} does not exist: pass a .txt file or a folder of them")
  documents = [document.encode("utf-8") for document in documents if document.strip()]
  if not documents:
    raise UserError(f"--data_path={data_path} holds no text: add documents")
  return documents, source

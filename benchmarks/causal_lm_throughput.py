"""Causal-LM fine-tuning and generation throughput of tfsft next to hand-written keras-hub code.

  python benchmarks/causal_lm_throughput.py \
      --init_checkpoint=../shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct-Q4_1.gguf \
      --data_path=../shared/data/fra_eng/fra.txt --max_train_examples=320 \
      --max_seq_length=128 --batch_size=8 --warmup_steps=3 --timed_steps=5

(about 20 minutes on 2 CPU cores; add --tiny for a 2-layer random Llama3 with SmolLM2's
vocabulary, tokenizer and chat template: about 2 minutes, for checking the script itself.)

Everything is timed in one process, on the same training examples (the instruction_tuning task's
train split: fra.txt pairs as ChatML conversations "Translate to French: {source}" -> target, or
an Alpaca / messages JSON file), the same weights, batch size, --max_seq_length and optimizer
(AdamW, same learning rate, weight decay, epsilon and global-norm clipping), over the same
number of steady-state steps (the first --warmup_steps, which trace, are excluded):

  keras_hub      Llama3CausalLM(backbone, Llama3CausalLMPreprocessor(tokenizer, sequence_length=
                 L, add_start_token=False)) compiled with jit_compile=False, `fit` on the list of
                 the same conversations rendered to strings by the chat template: every example
                 padded to L, loss on every non-padding token (keras-hub's only masking).
                 jit_compile=False because XLA on this CPU is slower to start (the checkpoint's
                 README: first step 301 s against 136 s) and no faster per step, and because
                 Keras resolves jit_compile="auto" to False on CPU-only machines anyway.
  tfsft          trainer.run (what `python -m tfsft.train` calls) with its defaults: examples
                 tokenized one by one, grouped by length, each batch padded to its longest row
                 (rounded up to --pad_to_multiple's default for this machine: exact widths on
                 CPUs), loss on the assistant's tokens only.
  tfsft_packing  the same with --packing: examples best-fit packed into rows of exactly L, with
                 a block-causal attention mask.

Tokens are counted from the batches each run really consumed in its timed steps (tfsft's
training stream is rebuilt with the same seed and checked against the model's own count of
trained tokens): `real` tokens are non-padding positions fed to the model, `trained` tokens
carry loss, `positions` are all fed positions (padding included).

Generation, on the same model: greedy, --new_tokens new tokens after the first
--generation_batch_sizes prompts of the training conversations (token ids, right-padded, no stop
token, so every row generates all of them and both loops run the same number of steps):
tfsft.generation.decode in a tf.function (the servable loop, no XLA), against keras-hub's
`generate` after `compile(sampler="greedy")` (which resolves jit_compile to False on CPU) and
after `compile(sampler="greedy", jit_compile=True)` (XLA). Each variant is called once to trace
/ compile (that time is reported too), then the variants take turns for --generation_repeats
rounds and each one's best call counts; the greedy tokens of all variants are compared.

Prints one JSON line; docs/benchmarks.md records results.
"""

import functools
import gc
import json
import os
import tempfile
import time

import gguf
import keras
import keras_hub
import numpy as np
import tensorflow as tf
from absl import app, flags

from tfsft import trainer
from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, RuntimeConfig, TrainConfig
from tfsft.data import causal_lm_examples, pipeline, splits, token_batches
from tfsft.generation import DecodingSettings, decode
from tfsft.models import causal_lm, gguf_checkpoint
from tfsft.models.hugging_face_export import write_hugging_face_directory
from tfsft.tasks import TASKS

flags.DEFINE_string("init_checkpoint", None,
                    "A .gguf file or a Hugging Face directory (as for tfsft.train). With --tiny, "
                    "the .gguf file whose tokenizer and chat template the tiny model takes.")
flags.DEFINE_boolean("tiny", False, "A 2-layer random Llama3 with the checkpoint's vocabulary, "
                     "tokenizer and chat template instead of its weights (checks the script).")
flags.DEFINE_string("data_path", None, "fra.txt-style source<TAB>target file (as translation "
                    "pairs), or an Alpaca / prompt-completion / messages .json(l) file.")
flags.DEFINE_string("prompt_template", "Translate to French: {source}",
                    "The user's turn for source<TAB>target files.")
flags.DEFINE_integer("max_train_examples", 320, "Training examples read (both sides).")
flags.DEFINE_integer("max_seq_length", 128, "L: keras-hub's sequence_length, tfsft's "
                     "--max_seq_length (the longest fra.txt pair is 68 tokens as ChatML).")
flags.DEFINE_integer("batch_size", 8, "Rows per step.")
flags.DEFINE_float("learning_rate", 1e-4, "AdamW's (peak) learning rate, both sides.")
flags.DEFINE_integer("warmup_steps", 3, "Untimed steps (tracing, first-batch costs).")
flags.DEFINE_integer("timed_steps", 5, "Timed steps.")
flags.DEFINE_list("runs", ["keras_hub", "tfsft", "tfsft_packing"], "Training runs to time.")
flags.DEFINE_list("generation_batch_sizes", ["1", "8"], "Prompts per generate call; empty: no "
                  "generation timing.")
flags.DEFINE_integer("new_tokens", 32, "Tokens generated after each prompt.")
flags.DEFINE_integer("generation_repeats", 3, "Timed calls per variant (the best counts).")
flags.DEFINE_boolean("xla_generation", True, "Also time keras-hub generate with jit_compile=True.")
flags.DEFINE_list("fill_lengths", ["64", "128", "256"], "Sequence lengths at which the fraction "
                  "of real tokens per fed position is computed for each side (no training).")
FLAGS = flags.FLAGS

SEED = 42  # RuntimeConfig's default: trainer.run seeds Keras, TF and its data order with it
WEIGHT_DECAY, EPSILON, CLIP_GLOBAL_NORM = (OptimizerConfig().weight_decay,
                                           OptimizerConfig().adam_epsilon,
                                           OptimizerConfig().clip_global_norm)


# --- Timing ---------------------------------------------------------------------------------------


class StepTimer(keras.callbacks.Callback):
  """Wall time of every step; the steps after the first `warmup` ones are the timed ones. Also
  reads NextTokenModel's own count of trained tokens, to check the token accounting."""

  def __init__(self, warmup):
    super().__init__()
    self.warmup, self.ends, self.begin = warmup, [], None
    self.model_trained_tokens, self.jit_compile, self.load_at_start = None, None, None

  def on_train_begin(self, logs=None):
    self.jit_compile = bool(self.model.jit_compile)

  def on_train_batch_begin(self, batch, logs=None):
    if self.begin is None:
      self.begin = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    self.ends.append(time.perf_counter())
    if len(self.ends) == self.warmup:
      self.load_at_start = round(os.getloadavg()[0], 2)  # other processes on the machine skew the rates
    perplexity = getattr(self.model, "perplexity", None)  # tfsft's NextTokenModel
    if perplexity is not None:
      self.model_trained_tokens = float(perplexity.count.numpy())

  def step_seconds(self):
    starts = [self.begin] + self.ends[:-1]
    return [round(end - start, 2) for start, end in zip(starts, self.ends)]


def rates(timer: StepTimer, counts: list) -> dict:
  """Steady-state rates over the timed steps; `counts` has one dict per step consumed."""
  steps = len(timer.ends)
  if steps <= timer.warmup:
    raise RuntimeError(f"only {steps} steps ran: fewer than --warmup_steps + 1")
  timed = counts[timer.warmup:steps]
  seconds = timer.ends[-1] - timer.ends[timer.warmup - 1]
  total = {key: sum(step[key] for step in timed) for key in timed[0]}
  per_second = lambda key: round(total[key] / seconds, 2)
  return {
      "timed_steps": len(timed), "seconds": round(seconds, 2),
      "steps_per_s": round(len(timed) / seconds, 4), "examples_per_s": per_second("examples"),
      "real_tokens_per_s": per_second("real"), "trained_tokens_per_s": per_second("trained"),
      "positions_per_s": per_second("positions"),
      "padding_fraction": round(1 - total["real"] / total["positions"], 4),
      "trained_fraction_of_real": round(total["trained"] / total["real"], 4),
      "mean_width": round(total["positions"] / total["rows"], 1),
      "step_seconds": timer.step_seconds(), "jit_compile": timer.jit_compile,
      "load_average_1m": [timer.load_at_start, round(os.getloadavg()[0], 2)]}


# --- Data and model -------------------------------------------------------------------------------


def data_config(packing: bool) -> DataConfig:
  instructions = FLAGS.data_path.endswith((".json", ".jsonl")) or os.path.isdir(FLAGS.data_path)
  pairs = {} if instructions else {"text_from_task": "translation",
                                   "prompt_template": FLAGS.prompt_template}
  return DataConfig(data_path=FLAGS.data_path, max_train_examples=FLAGS.max_train_examples,
                    max_eval_examples=FLAGS.batch_size, packing=packing, **pairs)


def train_config(checkpoint: str, packing: bool, model_dir: str) -> TrainConfig:
  steps = FLAGS.warmup_steps + FLAGS.timed_steps
  return TrainConfig(
      task="instruction_tuning", data=data_config(packing),
      model=ModelConfig(model="causal_lm", init_checkpoint=checkpoint,
                        max_seq_length=FLAGS.max_seq_length),
      optimizer=OptimizerConfig(learning_rate=FLAGS.learning_rate),
      runtime=RuntimeConfig(model_dir=model_dir, batch_size=FLAGS.batch_size, train_steps=steps,
                            checkpoint_every_steps=steps, eval_every_steps=steps,
                            eval_generate_examples=0, export=False, seed=SEED))


def tiny_checkpoint(gguf_path: str, directory: str) -> str:
  """A Hugging Face directory: a 2-layer random Llama3 with the GGUF's vocabulary, tokenizer,
  special tokens and chat template."""
  tokenizer = gguf_checkpoint.load_gguf_tokenizer(gguf_path)
  template = gguf.GGUFReader(gguf_path).fields["tokenizer.chat_template"].contents()
  keras.utils.set_random_seed(0)
  backbone = keras_hub.models.Llama3Backbone(
      vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_query_heads=4,
      num_key_value_heads=2, hidden_dim=64, intermediate_dim=128, rope_max_wavelength=100000,
      tie_word_embeddings=True)
  return write_hugging_face_directory(
      backbone, tokenizer, directory, chat_template=template, add_bos_token=False,
      special_tokens={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                      "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>"})


def rendered(encoder, encoded_conversation: bytes) -> str:
  """The whole conversation as the chat template writes it: what keras-hub is given."""
  messages, where = causal_lm_examples.decode_conversation(encoded_conversation)
  return "".join(segment.text for segment in encoder.template.segments(messages, where=where))


def tfsft_step_counts(encoder, checkpoint: str, packing: bool) -> list:
  """Per-step token counts of the batches trainer.run will consume: its training stream, rebuilt
  exactly as trainer.run builds it (same task, config, global seed and stream seed)."""
  config = train_config(checkpoint, packing, tempfile.mkdtemp())
  task = TASKS.get(config.task)(config.data)
  keras.utils.set_random_seed(SEED)  # trainer.run seeds TF first; tf.data's shuffle depends on it
  data = task.load_data(config.data, config.runtime.seed)
  batches = task.training_batches(encoder, data.train, splits.count(data.train), config)
  counts = []
  for features in batches.dataset(seed=config.runtime.seed).take(config.runtime.train_steps):
    segments = features["segment_ids"].numpy()
    trained = features["trained"].numpy()
    # As NextTokenModel's loss: target i + 1 is trained and follows a token of its own example.
    carries_loss = (trained[:, 1:] > 0) & (segments[:, 1:] == segments[:, :-1]) & (segments[:, 1:] > 0)
    counts.append({"rows": segments.shape[0], "examples": int(segments.max(axis=1).sum()),
                   "real": int((segments > 0).sum()), "trained": int(carries_loss.sum()),
                   "positions": int(segments.size)})
  return counts


def fill_by_length(encoder, task, data, texts: list) -> dict:
  """The fraction of fed positions that hold real tokens, per sequence length L, on the whole
  training split: keras-hub (every example padded to L, plus its end token), tfsft grouped by
  length (batches of --batch_size padded to their longest, rounded up as tfsft does on this
  machine) and packed."""
  keras_hub_lengths = np.array([len(ids) + 1 for ids in encoder.token_ids(texts)])
  raw = [text for text, _ in data.train.as_numpy_iterator()]
  fills = {}
  for length in [int(value) for value in FLAGS.fill_lengths]:
    kept, _ = causal_lm_examples.fit_to_length(task.tokenized(encoder, raw, length), length,
                                               "truncate")
    grouped = token_batches.length_grouped_batches(
        kept, FLAGS.batch_size, encoder.pad_token_id, training=True, max_width=length,
        pad_to_multiple=pipeline.default_pad_to_multiple(), seed=SEED)
    packed = token_batches.packed_batches(kept, length, FLAGS.batch_size, encoder.pad_token_id,
                                          training=True)
    fills[str(length)] = {
        "keras_hub": round(float(np.minimum(keras_hub_lengths, length).mean() / length), 3),
        "tfsft": round(grouped.fill, 3), "tfsft_packing": round(packed.fill, 3)}
  return fills


# --- The runs -------------------------------------------------------------------------------------


def time_keras_hub(encoder, texts: list) -> dict:
  steps = FLAGS.warmup_steps + FLAGS.timed_steps
  if len(texts) < steps * FLAGS.batch_size:
    raise ValueError(f"{len(texts)} training examples make fewer than {steps} batches")
  preprocessor = keras_hub.models.Llama3CausalLMPreprocessor(
      tokenizer=encoder.tokenizer, sequence_length=FLAGS.max_seq_length,
      add_start_token=False)  # the ChatML text starts with its own <|im_start|>
  lm = keras_hub.models.Llama3CausalLM(backbone=encoder.backbone, preprocessor=preprocessor)
  lm.compile(optimizer=keras.optimizers.AdamW(FLAGS.learning_rate, weight_decay=WEIGHT_DECAY,
                                              epsilon=EPSILON, global_clipnorm=CLIP_GLOBAL_NORM),
             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
             weighted_metrics=["accuracy"], jit_compile=False)
  # The batches fit makes of a list of strings (keras-hub's pipeline_model: from_tensor_slices,
  # batch, map the preprocessor; no shuffling), counted as the model sees them.
  counts = []
  dataset = tf.data.Dataset.from_tensor_slices(texts).batch(FLAGS.batch_size).map(preprocessor)
  for x, _, sample_weight in dataset.take(steps):
    mask = x["padding_mask"].numpy()
    counts.append({"rows": mask.shape[0], "examples": mask.shape[0], "real": int(mask.sum()),
                   "trained": int(sample_weight.numpy().sum()), "positions": int(mask.size)})
  keras.utils.set_random_seed(SEED)
  timer = StepTimer(FLAGS.warmup_steps)
  lm.fit(x=texts, batch_size=FLAGS.batch_size, epochs=1, steps_per_epoch=steps,
         callbacks=[timer], verbose=0)
  return rates(timer, counts)


def time_tfsft(checkpoint: str, packing: bool, counts: list) -> dict:
  timer = StepTimer(FLAGS.warmup_steps)
  with tempfile.TemporaryDirectory() as model_dir:
    trainer.run(train_config(checkpoint, packing, model_dir), extra_callbacks=[timer])
  result = rates(timer, counts)
  counted = sum(step["trained"] for step in counts[:len(timer.ends)])
  result["model_counted_trained_tokens"] = timer.model_trained_tokens
  if timer.model_trained_tokens is not None and abs(timer.model_trained_tokens - counted) > 0.5:
    raise RuntimeError(f"token accounting is off: the stream rebuilt here has {counted} trained "
                       f"tokens, the model counted {timer.model_trained_tokens}")
  return result


def time_generation(encoder, prompts: list) -> dict:
  """tfsft's decode vs keras-hub's generate: the same weights, prompts and number of loop steps.
  Each variant is called once (tracing / compiling), then the variants take turns, so that load
  from other processes drifting over time hits all of them alike; the best call counts."""
  new = FLAGS.new_tokens
  settings = DecodingSettings(max_new_tokens=new)  # greedy, no stop token
  # One task object per keras-hub variant (compile() resets the generate function), all on the
  # same backbone; tfsft decodes with the first.
  keras_hub_lms = {"keras_hub_generate": {}}
  if FLAGS.xla_generation:
    keras_hub_lms["keras_hub_generate_xla"] = {"jit_compile": True}
  for name, options in keras_hub_lms.items():
    keras_hub_lms[name] = keras_hub.models.Llama3CausalLM(backbone=encoder.backbone,
                                                          preprocessor=None)
    keras_hub_lms[name].compile(sampler="greedy", **options)
  lm = keras_hub_lms["keras_hub_generate"]
  results = {}
  for batch in [int(size) for size in FLAGS.generation_batch_sizes]:
    rows = [encoder.token_ids([prompt])[0] for prompt in prompts[:batch]]
    lengths = np.array([len(row) for row in rows])
    width = int(lengths.max())
    ids = np.zeros([batch, width + new], np.int32)
    for i, row in enumerate(rows):
      ids[i, :len(row)] = row
    mask = np.arange(width + new)[np.newaxis] < lengths[:, np.newaxis]

    ours = tf.function(lambda token_ids, padding_mask: decode(lm, token_ids, padding_mask,
                                                              settings))
    inputs = (tf.constant(ids[:, :width]), tf.constant(mask[:, :width]))
    calls = {"tfsft_decode": lambda: ours(*inputs)["token_ids"].numpy()[:, 0]}
    for name, task_lm in keras_hub_lms.items():
      calls[name] = functools.partial(
          lambda task_lm: task_lm.generate({"token_ids": ids, "padding_mask": mask},
                                           stop_token_ids=None)["token_ids"], task_lm)
    entry = {"prompt_tokens": [int(lengths.min()), int(lengths.max())], "new_tokens_per_row": new}
    tokens, times = {}, {name: [] for name in calls}
    for name, call in calls.items():
      start = time.perf_counter()
      tokens[name] = call()
      entry[name] = {"first_call_s": round(time.perf_counter() - start, 2)}
    for _ in range(FLAGS.generation_repeats):
      for name, call in calls.items():
        start = time.perf_counter()
        call()
        times[name].append(time.perf_counter() - start)
    for name in calls:
      best = min(times[name])
      entry[name].update(seconds=round(best, 3), all_seconds=[round(t, 2) for t in times[name]],
                         tokens_per_s=round(batch * new / best, 1))
      if name in keras_hub_lms:
        theirs = np.stack([tokens[name][i, lengths[i]:lengths[i] + new] for i in range(batch)])
        entry[name].update(jit_compile=bool(keras_hub_lms[name].jit_compile),
                           same_tokens_as_tfsft=bool((theirs == tokens["tfsft_decode"]).all()))
        entry[f"tfsft_speedup_vs_{name}"] = round(best / entry["tfsft_decode"]["seconds"], 3)
    entry["load_average_1m"] = round(os.getloadavg()[0], 2)
    results[f"batch_{batch}"] = entry
  return results


def main(argv):
  del argv
  started = time.perf_counter()
  scratch = tempfile.mkdtemp()
  checkpoint = FLAGS.init_checkpoint
  if FLAGS.tiny:
    checkpoint = tiny_checkpoint(FLAGS.init_checkpoint, os.path.join(scratch, "tiny_llama3"))
  base = train_config(checkpoint, False, scratch)
  # tfsft's own loader (GGUF -> keras-hub Llama3Backbone + Llama3Tokenizer; load_gguf does the
  # same for a hand-written script): its tokenizer and template render and count the examples,
  # and keras-hub trains and generates on its backbone.
  encoder = causal_lm.build(base.model)
  task = TASKS.get(base.task)(base.data)
  data = task.load_data(base.data, SEED)
  texts = [rendered(encoder, text) for text, _ in data.train.as_numpy_iterator()]
  tfsft_counts = {run: tfsft_step_counts(encoder, checkpoint, run == "tfsft_packing")
                  for run in FLAGS.runs if run.startswith("tfsft")}

  results = {"model": "tiny random Llama3 (2 layers, hidden 64), SmolLM2 vocabulary"
                      if FLAGS.tiny else os.path.basename(checkpoint),
             "data": FLAGS.data_path, "train_examples": len(texts),
             "max_seq_length": FLAGS.max_seq_length, "batch_size": FLAGS.batch_size,
             "learning_rate": FLAGS.learning_rate, "warmup_steps": FLAGS.warmup_steps,
             "example_tokens_mean": round(float(np.mean(
                 [len(ids) for ids in encoder.token_ids(texts)])), 1)}
  if FLAGS.fill_lengths:
    results["real_token_fill_by_max_seq_length"] = fill_by_length(encoder, task, data, texts)
  if "keras_hub" in FLAGS.runs:
    results["keras_hub"] = time_keras_hub(encoder, texts)
  if FLAGS.generation_batch_sizes:
    prompts = [causal_lm_examples.prompt_and_reference(encoder, text)[0]
               for text, _ in data.train.take(max(int(b) for b in FLAGS.generation_batch_sizes))
               .as_numpy_iterator()]
    results["generation"] = time_generation(encoder, prompts)
  del encoder
  gc.collect()
  keras.backend.clear_session()

  for run in FLAGS.runs:
    if run.startswith("tfsft"):
      results[run] = time_tfsft(checkpoint, run == "tfsft_packing", tfsft_counts[run])
      gc.collect()
      keras.backend.clear_session()
  if "keras_hub" in results:
    for run in FLAGS.runs:
      if run.startswith("tfsft"):
        results[run]["vs_keras_hub"] = {
            key: round(results[run][key] / results["keras_hub"][key], 3)
            for key in ("steps_per_s", "examples_per_s", "real_tokens_per_s",
                        "trained_tokens_per_s")}
  results["total_wall_s"] = round(time.perf_counter() - started, 1)
  print(json.dumps(results))


if __name__ == "__main__":
  flags.mark_flags_as_required(["init_checkpoint", "data_path"])
  app.run(main)

"""Seconds per training step of a causal LM: full fine-tuning against --peft=lora, in one process.

  python benchmarks/peft_step_time.py --num_layers=30 --methods=full,lora,lora_query_value

The model is a Llama 3 backbone of SmolLM2-135M's shape (hidden 576, 9/3 heads, feed-forward 1536,
vocabulary 49152, tied embeddings) with random weights: weights do not change the time of a
step, and random ones skip the GGUF load. Each method trains through tfsft's own pieces
(`NextTokenModel`, `peft.injection.inject` with tfsft's defaults) on one fixed batch of
--batch_size x --max_seq_length tokens, AdamW, no XLA. The methods take turns (--rounds rounds
of --steps steps each, after --warmup_steps untimed steps for tracing), so a change of machine
load reaches all of them; the best round counts. Prints one JSON line; docs/benchmarks.md
records results.

  full              every weight trains
  lora              LoRA r=8 on the causal_lm family's default targets (every projection)
  lora_query_value  LoRA r=8 on query and value only (PEFT's default for Llama)
"""

import json
import time

import keras
import keras_hub
import numpy as np
from absl import app, flags

from tfsft.config import PeftConfig
from tfsft.models import MODELS
from tfsft.models.causal_lm_forward import NextTokenModel
from tfsft.peft import injection

flags.DEFINE_integer("num_layers", 30, "Decoder layers (SmolLM2-135M has 30).")
flags.DEFINE_integer("batch_size", 8, "Rows per step.")
flags.DEFINE_integer("max_seq_length", 64, "Tokens per row.")
flags.DEFINE_list("methods", ["full", "lora", "lora_query_value"], "Methods to time.")
flags.DEFINE_integer("warmup_steps", 2, "Untimed first steps per method (tracing).")
flags.DEFINE_integer("steps", 3, "Steps per method per round.")
flags.DEFINE_integer("rounds", 4, "Rounds of turns.")
FLAGS = flags.FLAGS

_TARGETS = {"full": None, "lora": ",".join(MODELS.get("causal_lm").lora_targets),
            "lora_query_value": "query,value"}


def build(method: str) -> keras.Model:
  keras.utils.set_random_seed(0)
  backbone = keras_hub.models.Llama3Backbone(
      vocabulary_size=49152, num_layers=FLAGS.num_layers, num_query_heads=9,
      num_key_value_heads=3, hidden_dim=576, intermediate_dim=1536, tie_word_embeddings=True)
  causal_lm = keras_hub.models.Llama3CausalLM(backbone=backbone, preprocessor=None)
  if _TARGETS[method]:
    injection.inject(backbone, PeftConfig(peft="lora", lora_targets=_TARGETS[method]))
  model = NextTokenModel(causal_lm)
  model.compile(optimizer=keras.optimizers.AdamW(1e-4), jit_compile=False)
  return model


def main(argv):
  del argv
  unknown = set(FLAGS.methods) - set(_TARGETS)
  if unknown:
    raise app.UsageError(f"unknown --methods {sorted(unknown)}: choose from {sorted(_TARGETS)}")
  shape = (FLAGS.batch_size, FLAGS.max_seq_length)
  token_ids = np.random.default_rng(0).integers(3, 49152, size=shape).astype(np.int32)
  batch = {"token_ids": token_ids, "segment_ids": np.ones_like(token_ids),
           "positions": np.tile(np.arange(shape[1], dtype=np.int32), (shape[0], 1)),
           "trained": np.ones_like(token_ids)}
  models = {method: build(method) for method in FLAGS.methods}
  for model in models.values():
    for _ in range(FLAGS.warmup_steps):
      model.train_on_batch(batch)
  seconds = {method: [] for method in models}
  for _ in range(FLAGS.rounds):
    for method, model in models.items():
      start = time.perf_counter()
      for _ in range(FLAGS.steps):
        model.train_on_batch(batch)
      seconds[method].append((time.perf_counter() - start) / FLAGS.steps)
  full = min(seconds["full"]) if "full" in seconds else None
  print(json.dumps({
      "num_layers": FLAGS.num_layers, "batch": list(shape),
      "methods": {method: {
          "best_seconds_per_step": round(min(times), 3),
          "median_seconds_per_step": round(float(np.median(times)), 3),
          "trainable_parameters": injection.parameter_counts(models[method])[
              "trainable_parameters"],
          **({"speedup_over_full": round(full / min(times), 2)} if full else {})}
          for method, times in seconds.items()}}))


if __name__ == "__main__":
  app.run(main)

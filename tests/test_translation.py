"""translation + lstm_seq2seq through the CLI: train on tiny reversal pairs the test writes, check
that BLEU rises, then export and translate unseen sentences in a fresh process."""

import json
import os
import random
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli, scalars
from tfsft.model_dir import load_trained_model
from tfsft.serving.servability import check_servable
from tiny_assets import reversal_pair, write_reversal_pairs

STEPS = 150


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp("translation")
  pairs = write_reversal_pairs(str(root / "pairs.tsv"))
  flags = ["--task=translation", "--model=lstm_seq2seq", f"--data_path={pairs}",
           f"--model_dir={root / 'model'}", f"--export_dir={root / 'export'}",
           "--embedding_dim=32", "--lstm_units=32", "--learning_rate=1e-2", "--dropout=0",
           "--batch_size=32", f"--train_steps={STEPS}", "--eval_every_steps=50",
           "--checkpoint_every_steps=50", "--beam_size=3", "--max_seq_length=8"]
  process = assert_ok(run_cli("tfsft.train", *flags))
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  return {"model_dir": str(root / "model"), "export_path": export_path, "flags": flags}


def unseen_sources(count=6):
  rng = random.Random(1234)  # not the training seed: sentences the model has not seen
  return [reversal_pair(rng) for _ in range(count)]


def test_bleu_rises_and_is_reported(trained):
  bleu = scalars(os.path.join(trained["model_dir"], "logs", "validation"), "eval/bleu")
  assert [step for step, _ in bleu] == [50, 100, 150]
  assert bleu[-1][1] > 60 and bleu[-1][1] > bleu[0][1] + 10, bleu
  with open(os.path.join(trained["model_dir"], "eval_results.json")) as handle:
    results = json.load(handle)
  for split in ("validation", "test"):
    assert {"bleu", "bleu_signature", "token_accuracy", "perplexity", "examples"} <= set(results[split])
    assert results[split]["perplexity"] < 2.0 and results[split]["token_accuracy"] > 0.8
  assert "case:lc" in results["validation"]["bleu_signature"]
  train_logs = os.path.join(trained["model_dir"], "logs", "train")
  assert scalars(train_logs, "train/token_accuracy") and scalars(train_logs, "train/perplexity")


def test_example_translations_reach_tensorboard(trained):
  validation_logs = os.path.join(trained["model_dir"], "logs", "validation")
  tags = set()
  for path in tf.io.gfile.glob(os.path.join(validation_logs, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  assert "eval/translations" in tags


def test_export_translates_unseen_sentences_in_a_fresh_process(trained):
  pairs = unseen_sources()
  sources = [source for source, _ in pairs]
  report = check_servable(trained["export_path"], {"text": sources})
  assert report["problems"] == [], report["problems"]
  assert {"serving_default", "tokenize", "predict_token_ids"} <= set(report["signatures"])
  served = report["signatures"]["serving_default"]["translation"]
  assert report["signatures"]["predict_token_ids"]["translation"] == served
  correct = sum(translation == reference for translation, (_, reference) in zip(served, pairs))
  assert correct >= len(pairs) - 1, list(zip(served, pairs))

  run = load_trained_model(trained["model_dir"])
  in_memory = run.encoder.translate(run.encoder.preprocess(tf.constant(sources)))
  assert [text.decode() for text in in_memory.numpy()] == served


def test_predict_cli_prints_translations(trained, tmp_path):
  texts = tmp_path / "sources.txt"
  texts.write_text("one two three\nfive six\n")
  process = assert_ok(run_cli("tfsft.predict", f"--saved_model={trained['export_path']}",
                              f"--input_file={texts}"))
  rows = [json.loads(line) for line in process.stdout.splitlines()]
  assert [row["text"] for row in rows] == ["one two three", "five six"]
  assert all(isinstance(row["translation"], str) for row in rows)


def test_weights_stored_once_and_resume_works(trained):
  stored = tf.train.list_variables(os.path.join(trained["export_path"], "variables", "variables"))
  assert sum(int(np.prod(shape)) for name, shape in stored
             if name != "_CHECKPOINTABLE_OBJECT_GRAPH") == \
      load_trained_model(trained["model_dir"]).model.count_params()
  flags = [f for f in trained["flags"] if not f.startswith(("--train_steps", "--beam_size"))]
  process = assert_ok(run_cli("tfsft.train", *flags, f"--train_steps={STEPS + 10}",
                              "--beam_size=1", "--noexport"))
  assert re.search(rf"Resuming from \S+ckpt-{STEPS} at step {STEPS}", process.stderr)


def test_export_cli_can_switch_to_greedy_decoding(trained, tmp_path):
  process = assert_ok(run_cli("tfsft.export", f"--model_dir={trained['model_dir']}",
                              f"--export_dir={tmp_path / 'greedy'}", "--beam_size=1"))
  greedy_export = process.stdout.strip().splitlines()[-1]
  pairs = unseen_sources()
  report = check_servable(greedy_export, {"text": [source for source, _ in pairs]})
  assert report["problems"] == []
  served = report["signatures"]["serving_default"]["translation"]
  assert sum(t == reference for t, (_, reference) in zip(served, pairs)) >= len(pairs) - 1


def test_mirrored_bfloat16_training_exports_a_servable_translator(tmp_path):
  """Both process-wide settings at once: the beam search's float32 cache must carry bfloat16
  states, and evaluation decodes with mirrored variables."""
  pairs = write_reversal_pairs(str(tmp_path / "pairs.tsv"), count=200)
  process = assert_ok(run_cli(
      "tfsft.train", "--task=translation", "--model=lstm_seq2seq", f"--data_path={pairs}",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}",
      "--strategy=mirrored", "--cpu_logical_devices=2", "--mixed_precision=mixed_bfloat16",
      "--embedding_dim=16", "--lstm_units=16", "--batch_size=16", "--train_steps=10",
      "--beam_size=2", "--max_seq_length=8"))
  assert "MirroredStrategy with 2 replica(s)" in process.stderr
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": ["one two", "three"]})
  assert report["problems"] == []
  assert len(report["signatures"]["serving_default"]["translation"]) == 2

"""token_classification / conll2003 through the CLI on tiny CoNLL files the tests write: training,
entity F1, an export that returns entities with character offsets in a fresh process, and the
errors a CoNLL file can cause."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli, served_tolerance
from tfsft.model_dir import load_trained_model
from tfsft.serving.servability import check_servable
from tiny_assets import tagged_sentences, write_conll_folder

# Unseen sentences made only of the tiny vocabulary's words: what a tiny model does with [UNK] is
# not stable from one machine to the next.
SENTENCES = ["Alice Smith visited Paris today.", "In Rome, Bob said.", "Déjà, Carol met Berlin.", ""]


@pytest.fixture(scope="module")
def tagger(tiny_bert, tmp_path_factory):
  """A tiny BERT tagger trained on a 2-column train file and scored on a 4-column valid file."""
  root = tmp_path_factory.mktemp("tagger")
  sentences = tagged_sentences(200)
  data = write_conll_folder(root / "conll", sentences)
  process = assert_ok(run_cli(
      "tfsft.train", "--task=token_classification", "--model=bert", f"--init_checkpoint={tiny_bert}",
      f"--data_path={data}", "--max_seq_length=16", "--batch_size=16", "--train_steps=80",
      "--learning_rate=5e-3", f"--model_dir={root / 'model'}", f"--export_dir={root / 'export'}"))
  with open(root / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  return root, re.search(r"SavedModel: (\S+)", process.stdout).group(1), results


def test_entity_scores_per_type(tagger):
  _, _, results = tagger
  assert results["examples"] == {"train": 160, "validation": 40}
  validation = results["validation"]
  assert validation["entity_f1"] > 0.9
  assert {"entity_f1/PER", "entity_f1/LOC", "entity_precision/PER", "entities/LOC"} <= set(validation)


def test_export_returns_entities_with_character_offsets(tagger):
  root, export, _ = tagger
  report = check_servable(export, {"text": SENTENCES})  # a fresh process, TF Serving's loader
  assert report["problems"] == []
  assert {"serving_default", "tokenize", "predict_token_ids"} <= set(report["signatures"])
  served = report["signatures"]["serving_default"]
  assert served["entity_count"] == [2, 2, 2, 0]
  assert served["entity_text"][0] == ["Alice Smith", "Paris"]
  assert served["entity_text"][2] == ["Carol", "Berlin"]
  assert served["entity_start"][2] == [6, 16]  # characters: "Déjà" is 4 characters, 6 bytes
  assert served["entity_type"][0] == ["PER", "LOC"]
  assert served["entity_type"][1] == ["LOC", "PER"]
  for text, starts, ends, names, count in zip(SENTENCES, served["entity_start"],
                                              served["entity_end"], served["entity_text"],
                                              served["entity_count"]):
    # Offsets count characters ("Déjà" has two-byte letters), so Python slicing finds the text.
    assert [text[s:e] for s, e in zip(starts[:count], ends[:count])] == names[:count]
  assert served["words"][1][:3] == ["In", "Rome", ","]  # punctuation is a word of its own
  assert served["tags"][0][:4] == ["B-PER", "I-PER", "O", "B-LOC"]
  assert all(0.5 < score <= 1 for score in served["entity_score"][0])

  run = load_trained_model(str(root / "model"))
  # Traced, as in the SavedModel: keras-hub tokenizers return Python lists when run eagerly.
  in_memory = tf.function(lambda text: run.task.predict_text(run.model, run.encoder, [text],
                                                             run.label_names))(tf.constant(SENTENCES))
  np.testing.assert_allclose(in_memory["entity_score"].numpy(), served["entity_score"],
                             atol=served_tolerance(run))


def test_predict_cli_lists_entities(tagger, tmp_path):
  _, export, _ = tagger
  inputs = tmp_path / "sentences.txt"
  inputs.write_text("Alice Smith visited Paris today.\n")
  process = assert_ok(run_cli("tfsft.predict", f"--saved_model={export}", f"--input_file={inputs}"))
  row = json.loads(process.stdout.splitlines()[0])
  assert [(e["text"], e["type"], e["start"], e["end"]) for e in row["entities"]] == [
      ("Alice Smith", "PER", 0, 11), ("Paris", "LOC", 20, 25)]
  assert row["words"] == ["Alice", "Smith", "visited", "Paris", "today", "."]
  assert len(row["tags"]) == 6


@pytest.mark.parametrize("train,valid,flags,message", [
    ("EU B-ORG\nrejects\n", None, [], "train.txt line 2 has a token but no tag ('rejects')"),
    ("EU B-ORG\nrejects O\n", "Paris B-LOC\n", [],
     "valid.txt line 1 has tag 'B-LOC', which the training file never uses"),
    ("EU B-ORG\nrejects O\n", None, ["--model=lstm"],
     "--task=conll2003 labels words and needs a WordPiece model: choose --model=bert"),
])
def test_bad_conll_fails_naming_file_and_line(tmp_path, train, valid, flags, message):
  data = tmp_path / "conll"
  data.mkdir()
  (data / "train.txt").write_text(train)
  if valid:
    (data / "valid.txt").write_text(valid)
  process = run_cli("tfsft.train", "--task=conll2003", "--model=bert", f"--data_path={data}",
                    f"--model_dir={tmp_path / 'model'}", *flags)
  assert process.returncode != 0 and "Traceback" not in process.stderr
  errors = [line for line in process.stderr.splitlines() if line.startswith("tfsft: error:")]
  assert len(errors) == 1 and message in errors[0], process.stderr[-800:]
  assert not (tmp_path / "model").exists()

"""text_classification and glue/* through the CLI on tiny files the tests write: the user's own
label names, sentence pairs (two serving inputs), regression, and GLUE's TSV layout."""

import csv
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli, served_tolerance
from tfsft.model_dir import load_trained_model
from tfsft.serving.servability import check_servable
from tiny_assets import labeled_rows, pair_rows

LSTM = ["--model=lstm", "--embedding_dim=16", "--lstm_units=8", "--learning_rate=1e-2"]


def _train(tmp_path, *flags):
  process = assert_ok(run_cli("tfsft.train", f"--model_dir={tmp_path / 'model'}",
                              f"--export_dir={tmp_path / 'export'}", "--batch_size=16", *flags))
  with open(tmp_path / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  return re.search(r"SavedModel: (\S+)", process.stdout).group(1), results


def test_csv_with_its_own_label_names(tmp_path):
  path = tmp_path / "reviews.csv"
  with open(path, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["id", "review", "verdict"])
    writer.writerows((i, text, label) for i, (text, label) in enumerate(labeled_rows()))
  export, results = _train(tmp_path, "--task=text_classification", f"--data_path={path}",
                           "--text_column=review", "--label_column=verdict", "--train_steps=40",
                           *LSTM)
  assert results["validation"]["accuracy"] > 0.8
  report = check_servable(export, {"text": ["A superb, wonderful film.", "Dull and awful."]})
  assert report["problems"] == []
  outputs = report["signatures"]["serving_default"]
  assert outputs["classes"][0] == ["thumbs down", "thumbs up"]
  assert outputs["label"] == ["thumbs up", "thumbs down"]


def test_sentence_pairs_serve_text_and_text_pair(tmp_path, tiny_bert):
  path = tmp_path / "pairs.jsonl"
  path.write_text("".join(json.dumps({"premise": a, "hypothesis": b, "relation": label}) + "\n"
                          for a, b, label in pair_rows()))
  export, _ = _train(tmp_path, "--task=text_classification", f"--data_path={path}",
                     "--text_column=premise", "--text_pair_column=hypothesis",
                     "--label_column=relation", "--train_steps=10", "--model=bert",
                     f"--init_checkpoint={tiny_bert}", "--max_seq_length=48")
  inputs = {"text": ["A superb film.", "Awful, dull plot."], "text_pair": ["Loved it.", "Great!"]}
  report = check_servable(export, inputs)
  assert report["problems"] == []
  assert {"serving_default", "classify", "tokenize", "predict_token_ids"} <= set(report["signatures"])
  served = np.array(report["signatures"]["serving_default"]["scores"])
  np.testing.assert_allclose(report["signatures"]["classify"]["scores"], served, atol=1e-6)
  # Segment ids mark the second sentence: the pair is packed, not concatenated.
  assert max(map(max, report["signatures"]["tokenize"]["segment_ids"])) == 1

  run = load_trained_model(str(tmp_path / "model"))
  features = run.encoder.preprocess((tf.constant(inputs["text"]), tf.constant(inputs["text_pair"])))
  in_memory = run.task.predict(run.model, run.encoder, features, run.label_names)
  np.testing.assert_allclose(in_memory["scores"].numpy(), served, atol=served_tolerance(run))

  rows = tmp_path / "rows.jsonl"
  rows.write_text("".join(json.dumps({"text": a, "text_pair": b}) + "\n"
                          for a, b in zip(inputs["text"], inputs["text_pair"])))
  predicted = assert_ok(run_cli("tfsft.predict", f"--saved_model={export}", f"--input_file={rows}"))
  labels = [json.loads(line)["label"] for line in predicted.stdout.splitlines()]
  assert labels == report["signatures"]["serving_default"]["label"]


def test_regression_scores_and_serves_a_number(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "scores.tsv"
  lines = ["text\tscore"]
  for text, label in labeled_rows(200):
    lines.append(f"{text}\t{(4.0 if label == 'thumbs up' else 1.0) + rng.normal(0, 0.3):.2f}")
  path.write_text("\n".join(lines) + "\n")
  export, results = _train(tmp_path, "--task=text_classification", f"--data_path={path}",
                           "--label_column=score", "--regression", "--train_steps=60", *LSTM)
  assert {"pearson", "spearman", "mse"} <= set(results["validation"])
  assert results["validation"]["pearson"] > 0.8
  report = check_servable(export, {"text": ["A superb, wonderful film.", "Dull and awful."]})
  assert report["problems"] == []
  high, low = report["signatures"]["serving_default"]["score"]
  assert high > low


def test_glue_tsv_directory(tmp_path):
  data = tmp_path / "rte"
  data.mkdir()
  rows = pair_rows(200)
  relation = {"same": "entailment", "different": "not_entailment"}
  for name, part in (("train.tsv", rows[:160]), ("dev.tsv", rows[160:])):
    (data / name).write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(
        f"{i}\t{a}\t{b}\t{relation[label]}\n" for i, (a, b, label) in enumerate(part)))
  export, results = _train(tmp_path, "--task=glue/rte", f"--data_path={data}", "--train_steps=20",
                           *LSTM)
  assert results["examples"] == {"train": 160, "validation": 40}
  assert "matthews_corrcoef" in results["validation"]
  report = check_servable(export, {"text": ["A superb film."], "text_pair": ["Awful."]})
  assert report["problems"] == []
  assert report["signatures"]["serving_default"]["classes"][0] == ["entailment", "not_entailment"]


@pytest.mark.parametrize("content,flags,message", [
    ("label\tsentence\n1\tgood\n0\tbad\n", ["--text_column=review", "--text_pair_column=other"],
     "line 2 has no column 'review' (it has: label, sentence)"),
    ("text\tlabel\ngood\tpos\nbad\n", [], "line 3 has 1 fields but the header has 2"),
])
def test_bad_tables_fail_naming_file_and_line(tmp_path, content, flags, message):
  path = tmp_path / "data.tsv"
  path.write_text(content)
  process = run_cli("tfsft.train", "--task=text_classification", f"--data_path={path}",
                    f"--model_dir={tmp_path / 'model'}", *LSTM, *flags)
  assert process.returncode != 0 and "Traceback" not in process.stderr
  errors = [line for line in process.stderr.splitlines() if line.startswith("tfsft: error:")]
  assert len(errors) == 1 and str(path) in errors[0] and message in errors[0], process.stderr[-800:]
  assert not (tmp_path / "model").exists()

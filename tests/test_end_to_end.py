"""train -> evaluate -> export -> reload in a fresh process, for both model families, via the CLI."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli, scalars, served_tolerance
from tfsft.model_dir import load_trained_model
from tfsft.serving import servability
from tfsft.serving.servability import check_servable
from tfsft.serving.warmup import read_warmup_requests

UNSEEN = ["A brilliant and moving film, I loved it.", "Dull, boring and a waste of time.",
          "the plot", "Superb acting; excellent story!"]

FAMILY_FLAGS = {
    "lstm": ["--model=lstm", "--embedding_dim=16", "--lstm_units=8", "--learning_rate=1e-2"],
    "bert": ["--model=bert", "--max_seq_length=32", "--learning_rate=3e-3", "--dropout=0"],
}


def train_flags(family, tiny_imdb, tiny_bert, model_dir, export_dir, steps):
  flags = FAMILY_FLAGS[family] + [
      "--task=imdb", f"--data_path={tiny_imdb}", f"--model_dir={model_dir}",
      f"--export_dir={export_dir}", "--batch_size=16", f"--train_steps={steps}",
      "--checkpoint_every_steps=20", "--log_every_steps=5"]
  return flags + ([f"--init_checkpoint={tiny_bert}"] if family == "bert" else [])


@pytest.fixture(scope="module", params=["lstm", "bert"])
def trained(request, tiny_imdb, tiny_bert, tmp_path_factory):
  root = tmp_path_factory.mktemp(request.param)
  flags = train_flags(request.param, tiny_imdb, tiny_bert, root / "model", root / "export", 60)
  process = assert_ok(run_cli("tfsft.train", *flags))
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  return {"family": request.param, "flags": flags, "model_dir": str(root / "model"),
          "export_root": str(root / "export"), "export_path": export_path, "log": process.stderr}


def test_training_lowers_the_loss_and_scores_the_splits(trained):
  losses = [value for _, value in scalars(os.path.join(trained["model_dir"], "logs", "train"),
                                          "train/loss")]
  assert len(losses) >= 10 and np.mean(losses[-3:]) < np.mean(losses[:3])
  with open(os.path.join(trained["model_dir"], "eval_results.json")) as handle:
    results = json.load(handle)
  assert results["step"] == 60
  for split in ("validation", "test"):
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix"} <= set(results[split])
  assert results["test"]["accuracy"] >= 0.8  # the tiny data's sentiment words are unmistakable
  assert scalars(os.path.join(trained["model_dir"], "logs", "validation"), "eval/accuracy")


def test_the_run_records_what_it_cost_in_real_tokens(trained):
  with open(os.path.join(trained["model_dir"], "eval_results.json")) as handle:
    results = json.load(handle)
  assert results["train_steps_timed"] == 60
  assert results["train_seconds"] > 0
  assert results["train_examples_per_second"] == pytest.approx(
      60 * 16 / results["train_seconds"], rel=0.01)
  tokens_per_example = results["train_tokens_per_second"] / results["train_examples_per_second"]
  max_seq_length = 32 if trained["family"] == "bert" else 128  # the flag, or imdb's default
  assert 2 <= tokens_per_example <= max_seq_length
  # Batches cut to their longest row carry less padding than rows of
  # --max_seq_length would.
  assert 0 <= results["padding_fraction"] < 1 - tokens_per_example / max_seq_length
  assert results["peak_rss_mb"] > 100 and results["final_evaluation_seconds"] > 0


def test_fresh_process_serving_matches_the_in_memory_model(trained):
  report = check_servable(trained["export_path"], {"text": UNSEEN})
  assert report["problems"] == []
  assert not {"PyFunc", "EagerPyFunc", "PyFuncStateless"} & set(report["ops"])
  outputs = report["signatures"]
  assert {"serving_default", "classify", "tokenize", "predict_token_ids"} <= set(outputs)
  served = np.array(outputs["serving_default"]["scores"])
  np.testing.assert_allclose(outputs["classify"]["scores"], served, atol=1e-6)
  np.testing.assert_allclose(outputs["predict_token_ids"]["scores"], served, atol=1e-6)
  assert outputs["serving_default"]["classes"][0] == ["neg", "pos"]
  assert outputs["serving_default"]["label"] == [["neg", "pos"][i] for i in served.argmax(-1)]
  if trained["family"] == "bert":
    assert report["tf_text_ops"], "BERT tokenization should run on tensorflow-text ops"

  run = load_trained_model(trained["model_dir"])
  in_memory = run.task.predict(run.model, run.encoder, run.encoder.preprocess(tf.constant(UNSEEN)),
                               run.label_names)
  np.testing.assert_allclose(in_memory["scores"].numpy(), served, atol=served_tolerance(run))


def test_predict_cli_matches_the_servability_check(trained, tmp_path):
  texts_file = tmp_path / "reviews.jsonl"
  texts_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in UNSEEN))
  process = assert_ok(run_cli("tfsft.predict", f"--saved_model={trained['export_path']}",
                              f"--input_file={texts_file}"))
  rows = [json.loads(line) for line in process.stdout.splitlines()]
  report = check_servable(trained["export_path"], {"text": UNSEEN})
  assert [row["label"] for row in rows] == report["signatures"]["serving_default"]["label"]
  np.testing.assert_allclose([[row["scores"]["neg"], row["scores"]["pos"]] for row in rows],
                             report["signatures"]["serving_default"]["scores"], atol=1e-6)


def test_servability_cli_with_its_default_texts(trained, capsys):
  # The defaults carry causal LMs' scalar settings too; a classifier's Classify API ignores them.
  assert servability.main([f"--saved_model={trained['export_path']}"]) == 0
  report = json.loads(capsys.readouterr().out)
  assert report["problems"] == []
  assert len(report["signatures"]["classify"]["scores"]) == 2


def test_warmup_file_holds_real_serving_default_requests(trained):
  logs = read_warmup_requests(trained["export_path"])
  assert 1 <= len(logs) <= 1000
  request = logs[0].predict_log.request
  assert request.model_spec.signature_name == "serving_default"
  texts = tf.make_ndarray(request.inputs["text"])
  assert len(texts) >= 1 and all(len(t) > 10 for t in texts)


def test_export_cli_adds_a_version_from_the_model_dir(trained, tmp_path):
  export_root = str(tmp_path / "export")
  process = assert_ok(run_cli("tfsft.export", f"--model_dir={trained['model_dir']}",
                              f"--export_dir={export_root}"))
  new_version = process.stdout.strip().splitlines()[-1]
  assert new_version == os.path.join(export_root, "1")
  assert check_servable(new_version, {"text": UNSEEN[:2]})["problems"] == []
  # The re-export replays the same real validation texts as the export made after training.
  texts = lambda path: [tf.make_ndarray(log.predict_log.request.inputs["text"]).tolist()
                        for log in read_warmup_requests(path)]
  assert texts(new_version) == texts(trained["export_path"])
  # The same checkpoint with the same settings is already the newest version: nothing new.
  again = assert_ok(run_cli("tfsft.export", f"--model_dir={trained['model_dir']}",
                            f"--export_dir={export_root}"))
  assert again.stdout.strip().splitlines()[-1] == new_version
  assert "Not exported again" in again.stderr and os.listdir(export_root) == ["1"]


def test_rerunning_a_finished_run_publishes_no_duplicate_version(trained):
  versions = sorted(os.listdir(trained["export_root"]))
  process = assert_ok(run_cli("tfsft.train", *trained["flags"]))
  assert "already reaches the planned 60 steps" in process.stderr
  assert re.search(r"SavedModel: (\S+)", process.stdout).group(1) == trained["export_path"]
  assert sorted(os.listdir(trained["export_root"])) == versions


def test_rerun_with_more_steps_resumes(trained):
  flags = [f for f in trained["flags"] if not f.startswith("--train_steps")] + ["--train_steps=70"]
  process = assert_ok(run_cli("tfsft.train", *flags, "--noexport"))
  assert re.search(r"Resuming from \S+ckpt-60 at step 60 \(--init_checkpoint is not used\)",
                   process.stderr)
  with open(os.path.join(trained["model_dir"], "eval_results.json")) as handle:
    assert json.load(handle)["step"] == 70


def test_saved_model_stores_each_weight_once(trained):
  """Guards the keras-team/keras#23553 workaround in serving/signatures.py."""
  stored = tf.train.list_variables(os.path.join(trained["export_path"], "variables", "variables"))
  stored_values = sum(int(np.prod(shape)) for name, shape in stored
                      if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
  assert stored_values == load_trained_model(trained["model_dir"]).model.count_params()

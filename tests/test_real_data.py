"""The real MiniLM checkpoint fine-tuned on a slice of the real IMDb train split (CI sets the paths)."""

import json
import re

from conftest import assert_ok, run_cli, shared_path
from tfsft.serving.servability import check_servable

REVIEWS = ["One of the best films I have seen in years: moving, funny and beautifully acted.",
           "A tedious, badly written mess. I want those two hours of my life back."]


def test_minilm_on_1000_real_imdb_reviews(tmp_path):
  tarball = shared_path("TFSFT_TEST_DATA", "imdb", "aclImdb_train.tar.gz")
  minilm = shared_path("TFSFT_TEST_MODELS", "all-MiniLM-L6-v2")
  process = assert_ok(run_cli(
      "tfsft.train", "--task=imdb", "--model=bert", f"--init_checkpoint={minilm}",
      f"--data_path={tarball}", "--max_train_examples=1000", "--max_eval_examples=300",
      "--max_seq_length=128", "--batch_size=16", "--num_epochs=2",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}"))
  assert "starting from local Hugging Face directory" in process.stderr
  with open(tmp_path / "model" / "eval_results.json") as handle:
    validation = json.load(handle)["validation"]
  assert validation["examples"] == 300
  assert validation["accuracy"] > 0.68, validation  # chance is 0.5; measured 0.75 here

  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": REVIEWS})
  assert report["problems"] == []
  assert report["signatures"]["serving_default"]["label"] == ["pos", "neg"]


def _validation_bleu(model_dir):
  with open(model_dir / "eval_results.json") as handle:
    return json.load(handle)["validation"]


def test_lstm_seq2seq_on_real_english_french_pairs(tmp_path):
  pairs = shared_path("TFSFT_TEST_DATA", "fra_eng", "fra.txt")
  flags = ["--task=translation", "--model=lstm_seq2seq", f"--data_path={pairs}",
           "--max_eval_examples=500", "--batch_size=64", "--max_seq_length=16", "--beam_size=1",
           f"--export_dir={tmp_path / 'export'}"]
  # An untrained model (one step, inside the learning-rate warmup) is the baseline.
  assert_ok(run_cli("tfsft.train", *flags, "--train_steps=1", "--noexport",
                    f"--model_dir={tmp_path / 'untrained'}"))
  process = assert_ok(run_cli("tfsft.train", *flags, "--num_epochs=5",
                              f"--model_dir={tmp_path / 'model'}"))
  untrained, trained = _validation_bleu(tmp_path / "untrained"), _validation_bleu(tmp_path / "model")
  assert untrained["bleu"] < 2, untrained
  assert trained["bleu"] > 20, trained  # measured 0.0 untrained, 38.7 after 5 epochs

  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": ["I am cold.", "Where is my dog?"]})
  assert report["problems"] == []
  assert all(report["signatures"]["serving_default"]["translation"])


def test_minilm_on_real_sst2(tmp_path):
  glue_sst2 = shared_path("TFSFT_TEST_DATA", "glue_sst2")
  minilm = shared_path("TFSFT_TEST_MODELS", "all-MiniLM-L6-v2")
  process = assert_ok(run_cli(
      "tfsft.train", "--task=glue/sst2", "--model=bert", f"--init_checkpoint={minilm}",
      f"--data_path={glue_sst2}", "--max_train_examples=1000", "--max_seq_length=64",
      "--batch_size=32", "--num_epochs=2", f"--model_dir={tmp_path / 'model'}",
      f"--export_dir={tmp_path / 'export'}"))
  with open(tmp_path / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  assert results["examples"]["validation"] == 872  # the whole GLUE dev set
  assert results["validation"]["accuracy"] > 0.7, results  # chance is 0.5; measured 0.767
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": REVIEWS})
  assert report["problems"] == []
  assert report["signatures"]["serving_default"]["label"] == ["positive", "negative"]

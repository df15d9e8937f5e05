"""The real MiniLM checkpoint fine-tuned on a slice of the real IMDb tarball ($TFSFT_TEST_DATA,
$TFSFT_TEST_MODELS; CI sets them), exported and served."""

import json
import re

import pytest

from conftest import assert_ok, run_cli, shared_path
from tfsft.serving.servability import check_servable

# Real checkpoints on real data: started first, so that the two test processes share them out.
pytestmark = pytest.mark.heavy

REVIEWS = ["One of the best films I have seen in years: moving, funny and beautifully acted.",
           "A tedious, badly written mess. I want those two hours of my life back."]


def test_minilm_on_600_real_imdb_reviews(tmp_path):
  tarball = shared_path("TFSFT_TEST_DATA", "imdb", "aclImdb_train.tar.gz")
  minilm = shared_path("TFSFT_TEST_MODELS", "all-MiniLM-L6-v2")
  process = assert_ok(run_cli(
      "tfsft.train", "--task=imdb", "--model=bert", f"--init_checkpoint={minilm}",
      f"--data_path={tarball}", "--max_train_examples=600", "--max_eval_examples=200",
      "--max_seq_length=128", "--batch_size=16", "--num_epochs=2", "--learning_rate=1e-4",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}"))
  assert "starting from local Hugging Face directory" in process.stderr
  with open(tmp_path / "model" / "eval_results.json") as handle:
    validation = json.load(handle)["validation"]
  assert validation["examples"] == 200
  assert validation["accuracy"] > 0.68, validation  # chance is 0.5; measured 0.745 here

  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": REVIEWS})
  assert report["problems"] == []
  assert report["signatures"]["serving_default"]["label"] == ["pos", "neg"]

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

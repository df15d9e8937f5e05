"""The real MiniLM checkpoint fine-tuned on a slice of GLUE SST-2, scored on the whole dev set,
exported and served."""

import json
import re

import pytest

from conftest import assert_ok, run_cli, shared_path
from tfsft.serving.servability import check_servable

# Real checkpoints on real data: started first, so that the two test processes share them out.
pytestmark = pytest.mark.heavy

REVIEWS = ["One of the best films I have seen in years: moving, funny and beautifully acted.",
           "A tedious, badly written mess. I want those two hours of my life back."]


def test_minilm_on_real_sst2(tmp_path):
  glue_sst2 = shared_path("TFSFT_TEST_DATA", "glue_sst2")
  minilm = shared_path("TFSFT_TEST_MODELS", "all-MiniLM-L6-v2")
  process = assert_ok(run_cli(
      "tfsft.train", "--task=glue/sst2", "--model=bert", f"--init_checkpoint={minilm}",
      f"--data_path={glue_sst2}", "--max_train_examples=640", "--max_seq_length=64",
      "--batch_size=32", "--num_epochs=2", "--learning_rate=1e-4",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}"))
  with open(tmp_path / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  assert results["examples"]["validation"] == 872  # the whole GLUE dev set
  assert results["validation"]["accuracy"] > 0.7, results  # chance is 0.5; measured 0.756
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": REVIEWS})
  assert report["problems"] == []
  assert report["signatures"]["serving_default"]["label"] == ["positive", "negative"]

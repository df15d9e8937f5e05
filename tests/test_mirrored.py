"""--strategy=mirrored on logical CPU devices: the same command, the same kind of result."""

import json
import re

from conftest import assert_ok, run_cli
from tfsft.serving.servability import check_servable


def test_mirrored_training_on_two_logical_cpus(tiny_imdb, tiny_bert, tmp_path):
  process = assert_ok(run_cli(
      "tfsft.train", "--task=imdb", "--model=bert", f"--init_checkpoint={tiny_bert}",
      f"--data_path={tiny_imdb}", f"--model_dir={tmp_path / 'model'}",
      f"--export_dir={tmp_path / 'export'}", "--strategy=mirrored", "--cpu_logical_devices=2",
      "--batch_size=16", "--train_steps=20", "--max_seq_length=32", "--learning_rate=3e-3"))
  assert "MirroredStrategy with 2 replica(s)" in process.stderr
  assert "8 example(s) per replica per step" in process.stderr
  with open(tmp_path / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  assert results["step"] == 20 and 0 <= results["validation"]["accuracy"] <= 1
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  assert check_servable(export_path, {"text": ["great film", "awful film"]})["problems"] == []

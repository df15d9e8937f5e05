"""--mixed_precision=mixed_bfloat16 trains and still serves float32 probabilities (flags from a
--flagfile, as users keep them)."""

import re

import numpy as np

from conftest import assert_ok, run_cli
from tfsft.serving.servability import check_servable


def test_bfloat16_training_from_a_flagfile_exports_float32_scores(tiny_imdb, tiny_bert, tmp_path):
  flagfile = tmp_path / "imdb.flags"
  flagfile.write_text("\n".join([
      "--task=imdb", "--model=bert", f"--init_checkpoint={tiny_bert}", f"--data_path={tiny_imdb}",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}",
      "--mixed_precision=mixed_bfloat16", "--batch_size=16", "--train_steps=10",
      "--max_seq_length=32"]) + "\n")
  process = assert_ok(run_cli("tfsft.train", f"--flagfile={flagfile}"))
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  report = check_servable(export_path, {"text": ["great film", "awful film"]})
  assert report["problems"] == []
  scores = np.array(report["signatures"]["serving_default"]["scores"])
  np.testing.assert_allclose(scores.sum(axis=-1), 1.0, atol=1e-5)

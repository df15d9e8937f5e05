"""The real MiniLM checkpoint fine-tuned on a slice of CoNLL-2003, exported, and asked for the
entities of a sentence CoNLL-2003 does not have."""

import json
import re

import pytest

from conftest import assert_ok, run_cli, shared_path
from tfsft.serving.servability import check_servable

# Real checkpoints on real data: started first, so that the two test processes share them out.
pytestmark = pytest.mark.heavy


def test_minilm_on_a_real_conll_2003_slice(tmp_path):
  conll = shared_path("TFSFT_TEST_DATA", "conll2003")
  minilm = shared_path("TFSFT_TEST_MODELS", "all-MiniLM-L6-v2")
  process = assert_ok(run_cli(
      "tfsft.train", "--task=conll2003", "--model=bert", f"--init_checkpoint={minilm}",
      f"--data_path={conll}", "--max_train_examples=1500", "--max_eval_examples=500",
      "--max_seq_length=64", "--batch_size=32", "--num_epochs=2", "--learning_rate=1e-4",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}"))
  with open(tmp_path / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  assert results["examples"] == {"train": 1500, "validation": 500}  # train.txt and valid.txt
  assert results["validation"]["entity_f1"] > 0.5, results  # measured 0.748
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  sentence = "Angela Merkel met Emmanuel Macron in Paris on Tuesday."  # not in CoNLL-2003
  report = check_servable(export_path, {"text": [sentence]})
  assert report["problems"] == []
  served = report["signatures"]["serving_default"]
  entities = [(sentence[start:end], kind) for start, end, kind in zip(
      served["entity_start"][0], served["entity_end"][0], served["entity_type"][0]) if kind]
  assert entities == [("Angela Merkel", "PER"), ("Emmanuel Macron", "PER"), ("Paris", "LOC")]

"""Bad input: one line naming the problem and the fix, non-zero exit, no traceback, nothing damaged."""

import hashlib
import json
import os

import pytest

from conftest import assert_ok, run_cli


def _snapshot(*roots):
  digest = {}
  for root in roots:
    for folder, _, files in os.walk(root):
      for name in files:
        path = os.path.join(folder, name)
        with open(path, "rb") as handle:
          digest[path] = hashlib.sha256(handle.read()).hexdigest()
  return digest


@pytest.fixture(scope="module")
def finished_run(tiny_imdb, tmp_path_factory):
  root = tmp_path_factory.mktemp("finished")
  assert_ok(run_cli("tfsft.train", "--task=imdb", "--model=lstm", f"--data_path={tiny_imdb}",
                    f"--model_dir={root / 'model'}", f"--export_dir={root / 'export'}",
                    "--batch_size=16", "--train_steps=4", "--embedding_dim=8", "--lstm_units=4"))
  return root


def _bad_inputs(tmp, tiny_imdb):
  empty_review = tmp / "empty" / "aclImdb" / "train"
  for label in ("pos", "neg"):
    (empty_review / label).mkdir(parents=True)
    (empty_review / label / "1_9.txt").write_text("some words")
  (empty_review / "neg" / "7_1.txt").write_text("")
  latin1 = tmp / "latin1" / "aclImdb" / "train"
  for label in ("pos", "neg"):
    (latin1 / label).mkdir(parents=True)
    (latin1 / label / "1_9.txt").write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
  gpt2 = tmp / "gpt2"
  gpt2.mkdir()
  (gpt2 / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
  return {
      "unknown task": (["--task=imbd"], "unknown task 'imbd'"),
      "missing data": (["--data_path=/no/such/aclImdb"], "does not exist"),
      "malformed data": ([f"--data_path={tmp}"], "no train/pos"),
      "empty review": ([f"--data_path={tmp / 'empty'}"], "7_1.txt is empty"),
      "not utf-8": ([f"--data_path={tmp / 'latin1'}"], "is not valid UTF-8"),
      # A fresh model_dir: an existing one would be refused first, for holding an lstm run.
      "not bert": (["--model=bert", f"--init_checkpoint={gpt2}", f"--model_dir={tmp / 'fresh'}"],
                   "'gpt2' model, not BERT"),
      "no config": (["--model=bert", f"--init_checkpoint={tmp}", f"--model_dir={tmp / 'fresh'}"],
                    "has no config.json"),
      "conflict": (["--train_steps=5", "--num_epochs=1"], "both set"),
      "lstm checkpoint": ([f"--init_checkpoint={gpt2}"], "is for --model=bert"),
      "batch too big": (["--batch_size=4096"], "lower --batch_size"),
      "unknown model": (["--model=gpt"], "unknown model 'gpt'"),
  }


def test_bad_input_fails_cleanly_and_damages_nothing(finished_run, tiny_imdb, tmp_path):
  model_dir, export_dir = finished_run / "model", finished_run / "export"
  before = _snapshot(model_dir, export_dir)
  base = ["--task=imdb", "--model=lstm", f"--data_path={tiny_imdb}", f"--model_dir={model_dir}",
          f"--export_dir={export_dir}", "--batch_size=16", "--embedding_dim=8", "--lstm_units=4"]
  failures = []
  for name, (flags, message) in _bad_inputs(tmp_path, tiny_imdb).items():
    # Later flags win in absl, so each case overrides the good base flags.
    process = run_cli("tfsft.train", *base, *flags)
    errors = [line for line in process.stderr.splitlines() if line.startswith("tfsft: error:")]
    if (process.returncode == 0 or "Traceback" in process.stderr or len(errors) != 1
        or message not in errors[0]):
      failures.append(f"{name}: rc={process.returncode} {process.stderr[-600:]}")
  assert not failures, "\n".join(failures)
  assert _snapshot(model_dir, export_dir) == before
  assert not (tmp_path / "fresh").exists()


def test_resuming_with_another_model_is_refused(finished_run, tiny_imdb, tiny_bert):
  process = run_cli("tfsft.train", "--task=imdb", "--model=bert", f"--init_checkpoint={tiny_bert}",
                    f"--data_path={tiny_imdb}", f"--model_dir={finished_run / 'model'}")
  assert process.returncode != 0 and "Traceback" not in process.stderr
  assert "holds a checkpoint of a different run" in process.stderr


@pytest.mark.parametrize("module,flags,message", [
    ("tfsft.export", ["--model_dir=/no/such/run"], "holds no tfsft run"),
    ("tfsft.predict", ["--saved_model=/no/such/1", "--input_file=/no/such.txt"], "does not exist"),
])
def test_other_entry_points_fail_cleanly(module, flags, message):
  process = run_cli(module, *flags)
  assert process.returncode != 0 and "Traceback" not in process.stderr
  assert message in process.stderr


def test_translation_bad_input_fails_cleanly(tmp_path):
  one_column = tmp_path / "one_column.tsv"
  one_column.write_text("Go.\tVa !\nHello\n", encoding="utf-8")
  good = tmp_path / "pairs.tsv"
  good.write_text("Go.\tVa !\nHi.\tSalut.\n", encoding="utf-8")
  base = ["--task=translation", "--model=lstm_seq2seq", f"--model_dir={tmp_path / 'model'}"]
  cases = {
      "one column": ([f"--data_path={one_column}"], f"{one_column} line 2 has one column"),
      "no beams": ([f"--data_path={good}", "--beam_size=0"], "--beam_size=0 must be at least 1"),
      "classifier model": ([f"--data_path={good}", "--model=lstm"],
                           "--task=translation cannot use --model=lstm: choose --model=lstm_seq2seq"),
      "unknown attention": ([f"--data_path={good}", "--attention=cosine"], "unknown --attention"),
  }
  failures = []
  for name, (flags, message) in cases.items():
    process = run_cli("tfsft.train", *base, *flags)
    errors = [line for line in process.stderr.splitlines() if line.startswith("tfsft: error:")]
    if process.returncode == 0 or "Traceback" in process.stderr or len(errors) != 1 \
        or message not in errors[0]:
      failures.append(f"{name}: rc={process.returncode} {process.stderr[-600:]}")
  assert not failures, "\n".join(failures)
  assert not (tmp_path / "model").exists()

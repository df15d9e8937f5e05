"""Bad input: one line naming the problem and the fix, non-zero exit, no traceback, nothing damaged."""

import hashlib
import json
import os
import shutil

import pytest

from conftest import assert_ok, run_cli
from tfsft import output_locations, predict
from tfsft.errors import UserError
from tfsft.model_dir import load_trained_model
from tfsft.serving import servability

pytestmark = pytest.mark.heavy  # a subprocess per bad input: started first (conftest.py)


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


def _truncate(path):
  path.write_bytes(path.read_bytes()[:100])


def _without_label_names(run_file):
  record = json.loads(run_file.read_text())
  del record["label_names"]
  run_file.write_text(json.dumps(record))


def _only_error_line(process):
  errors = [line for line in process.stderr.splitlines() if line.startswith("tfsft: error:")]
  assert process.returncode == 2 and "Traceback" not in process.stderr and len(errors) == 1, \
      process.stderr[-2000:]
  return errors[0]


# Damage is done to copies: `finished_run` stays intact for the other tests.
@pytest.mark.parametrize("damage,message", [
    (lambda run: _truncate(next(run.glob("checkpoints/ckpt-*.data-*"))),
     "(its .index and .data-* files) is damaged (Read less bytes than requested): restore"),
    (lambda run: _truncate(next(run.glob("checkpoints/ckpt-*.index"))),
     "is damaged (not an sstable (bad magic number)): restore"),
    (lambda run: _truncate(run / "tfsft_run.json"), "tfsft_run.json is not valid JSON"),
    (lambda run: (run / "tfsft_run.json").write_text("{oops"), "tfsft_run.json is not valid JSON"),
    (lambda run: _without_label_names(run / "tfsft_run.json"),
     "tfsft_run.json has no 'label_names' entry: restore it from a copy"),
])
def test_a_damaged_model_dir_names_the_file_and_the_fix(damage, message, finished_run, tmp_path):
  model_dir = shutil.copytree(finished_run / "model", tmp_path / "model")
  damage(model_dir)
  with pytest.raises(UserError) as error:
    load_trained_model(str(model_dir))
  assert message in str(error.value)


@pytest.mark.parametrize("damage,message", [
    (lambda export: _truncate(export / "variables" / "variables.data-00000-of-00001"),
     "does not load (Read less bytes than requested): it is damaged or incomplete"),
    (lambda export: _truncate(export / "variables" / "variables.index"),
     "does not load (not an sstable (bad magic number))"),
    (lambda export: (export / "saved_model.pb").write_bytes(b"\xff" * 64),
     "does not load (Cannot parse file"),
    (lambda export: (export / "saved_model.pb").unlink(), "has no saved_model.pb"),
])
def test_a_damaged_saved_model_is_one_line_for_predict_and_servability(damage, message,
                                                                       finished_run, tmp_path,
                                                                       capsys):
  export = shutil.copytree(finished_run / "export" / "1", tmp_path / "1")
  damage(export)
  texts = tmp_path / "texts.txt"
  texts.write_text("A great film.\n")
  with pytest.raises(UserError) as error:
    predict.predict(str(export), predict.read_inputs(str(texts)))
  assert message in str(error.value)
  with pytest.raises(SystemExit) as exit_:
    servability.main([f"--saved_model={export}"])
  assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_predict_refuses_bad_inputs_before_loading_the_model(tmp_path):
  latin1 = tmp_path / "latin1.txt"
  latin1.write_bytes("fine\ncaf\u00e9\n".encode("latin-1"))
  with pytest.raises(UserError, match="latin1.txt:2 is not valid UTF-8"):
    predict.read_inputs(str(latin1))
  with pytest.raises(UserError, match="is a folder"):
    predict.read_inputs(str(tmp_path))
  texts = tmp_path / "texts.txt"
  texts.write_text("fine\n")
  for size in (0, -1):
    with pytest.raises(UserError, match=f"--batch_size={size} must be at least 1"):
      predict.predict("/no/such/1", predict.read_inputs(str(texts)), batch_size=size)
  with pytest.raises(UserError, match="folder .*missing does not exist: create it"):
    output_locations.check_output_file(str(tmp_path / "missing" / "out.jsonl"))
  with pytest.raises(UserError, match="is a folder: pass a file path"):
    output_locations.check_output_file(str(tmp_path))


def test_predict_answers_every_input_line_blank_ones_with_empty_rows(finished_run, tmp_path):
  export = str(finished_run / "export" / "1")
  texts = tmp_path / "texts.txt"
  texts.write_text("A great film.\n\nawful boring\n  \nfine\nlast\n")
  rows = list(predict.predict(export, predict.read_inputs(str(texts)), batch_size=2))
  assert [row["text"] for row in rows] == ["A great film.", "", "awful boring", "", "fine", "last"]
  assert "label" in rows[0] and rows[1] == {"text": ""}
  lines = tmp_path / "rows.jsonl"
  lines.write_text('{"text": "A great film."}\n\n')
  assert list(predict.predict(export, predict.read_inputs(str(lines))))[1] == {"text": ""}


def test_damage_fails_in_one_line_from_the_command_line(finished_run, tmp_path):
  model_dir = shutil.copytree(finished_run / "model", tmp_path / "model")
  _truncate(next(model_dir.glob("checkpoints/ckpt-*.data-*")))
  error = _only_error_line(run_cli("tfsft.export", f"--model_dir={model_dir}",
                                   f"--export_dir={tmp_path / 'export'}"))
  assert "is damaged (Read less bytes than requested)" in error
  assert not (tmp_path / "export").exists()
  texts = tmp_path / "texts.txt"
  texts.write_text("A great film.\n")
  error = _only_error_line(run_cli("tfsft.predict", f"--saved_model={finished_run / 'export' / '1'}",
                                   f"--input_file={texts}", f"--output_file={tmp_path / 'no' / 'o'}"))
  assert "does not exist: create it" in error

"""Checks that trainer.run makes before anything is trained or written: numbers outside their
range, output locations that cannot be written, evaluation splits that come out empty, labels
that look like two vocabularies, and each task's own defaults. In-process: no model is trained."""

import csv
import logging

import pytest

from tfsft import trainer
from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, RuntimeConfig, TrainConfig
from tfsft.errors import UserError
from tfsft.tasks import TASKS


def _config(tmp_path, data=None, optimizer=OptimizerConfig(), **runtime):
  runtime = RuntimeConfig(**{"model_dir": str(tmp_path / "model"),
                             "export_dir": str(tmp_path / "export"), **runtime})
  return TrainConfig(task="imdb", data=data or DataConfig(data_path="/unused"),
                     model=ModelConfig(model="lstm"), optimizer=optimizer, runtime=runtime)


@pytest.mark.parametrize("settings, message", [
    ({"num_epochs": -1}, "--num_epochs=-1 must be positive, or leave it out for the default"),
    ({"num_epochs": 0}, "--num_epochs=0 must be positive"),
    ({"train_steps": -5}, "--train_steps=-5 must be at least 1"),
    ({"train_steps": 0}, "--train_steps=0 must be at least 1"),
    ({"eval_every_steps": 0}, "--eval_every_steps=0 must be at least 1"),
    ({"batch_size": 0}, "--batch_size=0 must be at least 1"),
    ({"learning_rate": 0.0}, "--learning_rate=0.0 must be positive"),
    ({"learning_rate": float("nan")}, "--learning_rate=nan is not a number"),
    ({"warmup_ratio": 1.0}, "--warmup_ratio=1.0 must be at least 0 and below 1"),
    ({"weight_decay": float("inf")}, "--weight_decay=inf is not a number"),
])
def test_numbers_outside_their_range_are_refused_before_anything_is_written(settings, message,
                                                                             tmp_path):
  optimizer_fields = {"learning_rate", "warmup_ratio", "weight_decay"}
  optimizer = OptimizerConfig(**{k: v for k, v in settings.items() if k in optimizer_fields})
  runtime = {k: v for k, v in settings.items() if k not in optimizer_fields}
  with pytest.raises(UserError) as error:
    trainer.run(_config(tmp_path, optimizer=optimizer, **runtime))
  assert message in str(error.value)
  assert list(tmp_path.iterdir()) == []


def test_unset_means_the_default_and_zero_is_never_unset(tmp_path):
  plan = trainer.plan_steps(_config(tmp_path), steps_per_pass=10)
  assert plan.total_steps == 30  # DEFAULT_EPOCHS of 10 steps
  assert trainer.plan_steps(_config(tmp_path, num_epochs=0.5), 10).total_steps == 5


@pytest.mark.parametrize("make_export_dir, message", [
    (lambda tmp: (tmp / "a_file").write_text("x") and tmp / "a_file", "is a file: pass a directory"),
    (lambda tmp: (tmp / "a_file").write_text("x") and tmp / "a_file" / "imdb",
     "a_file is a file, not a folder"),
    (lambda tmp: "/proc/tfsft-export", "is not writable"),
])
def test_output_locations_are_checked_before_training(make_export_dir, message, tmp_path,
                                                      tiny_imdb):
  export_dir = str(make_export_dir(tmp_path))
  config = _config(tmp_path, data=DataConfig(data_path=tiny_imdb), export_dir=export_dir)
  with pytest.raises(UserError, match=message):
    trainer.run(config)
  assert not (tmp_path / "model").exists()


def _write_csv(path, rows):
  with open(path, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["text", "label"])
    writer.writerows(rows)


def test_an_empty_evaluation_split_is_refused_before_training(tmp_path):
  # Two distinct texts, many times over: the hash split puts each wholly on one side, and with
  # these two texts and seed nothing lands in validation.
  path = tmp_path / "repetitive.csv"
  _write_csv(path, [("a great film", "pos"), ("a dull film", "neg")] * 40)
  config = TrainConfig(task="text_classification", data=DataConfig(data_path=str(path)),
                       model=ModelConfig(model="lstm"),
                       runtime=RuntimeConfig(model_dir=str(tmp_path / "model"),
                                             export_dir=str(tmp_path / "export")))
  with pytest.raises(UserError, match=r"the (validation|test) split of .* has no examples: raise "
                                      r"--(validation|test)_fraction"):
    trainer.run(config)
  assert not (tmp_path / "model").exists()


def test_labels_in_two_vocabularies_are_warned_about(tmp_path, caplog):
  path = tmp_path / "mixed.csv"
  _write_csv(path, [(f"text number {i}", label) for i, label in
                    enumerate(["pos", "neg", "0", "1", "POS"] * 8)])
  task = TASKS.get("text_classification")(DataConfig(data_path=str(path)))
  with caplog.at_level(logging.WARNING):
    data = task.load_data(task.data_config, seed=42)
  assert len(data.label_names) == 5
  assert "mix numbers (0, 1) and words (POS, neg, pos)" in caplog.text
  assert "'POS' / 'pos' differ only in case" in caplog.text


@pytest.mark.parametrize("task, model, max_seq_length", [
    ("imdb", "bert", 128), ("glue/sst2", "bert", 128), ("conll2003", "bert", 128),
    ("squad", "bert", 384), ("translation", "lstm_seq2seq", 64)])
def test_each_task_runs_with_its_own_defaults(task, model, max_seq_length):
  config = trainer.with_task_defaults(TrainConfig(task=task))
  assert (config.model.model, config.model.max_seq_length) == (model, max_seq_length)
  trainer.check_flags(config)  # squad's 384-piece windows leave room for --doc_stride=128


def test_flags_that_were_given_win_over_task_defaults():
  config = trainer.with_task_defaults(
      TrainConfig(task="squad", model=ModelConfig(model="bert", max_seq_length=256)))
  assert config.model.max_seq_length == 256

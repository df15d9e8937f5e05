"""--steps_per_execution: several training steps per call into the step function take the same
steps as one per call, and the plan, the cost record and TensorBoard count steps, not calls."""

import logging
import os

import pytest

from conftest import scalars
from tfsft import trainer
from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, RuntimeConfig, TrainConfig


def _config(model_dir, data_path="/unused", init_checkpoint=None, **runtime):
  return TrainConfig(
      task="imdb", data=DataConfig(data_path=data_path),
      model=ModelConfig(model="bert", init_checkpoint=init_checkpoint, max_seq_length=32),
      optimizer=OptimizerConfig(learning_rate=3e-3),
      runtime=RuntimeConfig(model_dir=str(model_dir), batch_size=16, export=False,
                            mixed_precision="none", **runtime))


def test_the_plan_falls_on_multiples_of_the_steps_per_execution(tmp_path):
  plan = trainer.plan_steps(_config(tmp_path, train_steps=10, checkpoint_every_steps=6,
                                    steps_per_execution=4), steps_per_pass=100)
  assert (plan.total_steps, plan.steps_per_loop, plan.eval_every) == (12, 8, 10)
  plan = trainer.plan_steps(_config(tmp_path, train_steps=12, steps_per_execution=4), 100)
  assert (plan.total_steps, plan.steps_per_loop) == (12, 12)  # loops never outrun the run
  assert trainer.plan_steps(_config(tmp_path, train_steps=10), 100).total_steps == 10


def test_four_steps_per_call_train_as_one_step_per_call(tmp_path, tiny_imdb, tiny_bert, caplog):
  runs = {}
  for per_call in (1, 4):
    model_dir = tmp_path / f"per_call_{per_call}"
    with caplog.at_level("INFO", logger="absl"):
      runs[per_call] = trainer.run(_config(
          model_dir, tiny_imdb, tiny_bert, train_steps=8, checkpoint_every_steps=4,
          log_every_steps=3, steps_per_execution=per_call))
    runs[per_call]["losses"] = scalars(os.path.join(model_dir, "logs", "train"), "train/loss")
  one, four = runs[1], runs[4]
  assert "steps per execution: 4" in caplog.text
  assert one["step"] == four["step"] == 8
  assert one["train_steps_timed"] == four["train_steps_timed"] == 8
  # The same batches, dropout draws and updates, so the same model at the end.
  for metric in ("accuracy", "roc_auc"):
    assert four["validation"][metric] == pytest.approx(one["validation"][metric], abs=1e-6)
  # Logged at the end of each call that crossed a multiple of --log_every_steps=3 (steps 4 and 8
  # are no multiples of it).
  assert [step for step, _ in one["losses"]] == [3, 6]
  assert [step for step, _ in four["losses"]] == [4, 8]
  assert sorted(os.listdir(tmp_path / "per_call_4" / "checkpoints")) == sorted(
      os.listdir(tmp_path / "per_call_1" / "checkpoints"))

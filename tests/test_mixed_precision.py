"""--mixed_precision: "auto" resolved for the model family and hardware before the run is recorded;
a bfloat16 run still serves float32 probabilities (flags from a --flagfile, as users keep them) and
loads back in its own precision; the dtype policy never leaks out of a run into the process."""

import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli, served_tolerance
from tfsft import precision, trainer
from tfsft.config import DataConfig, ModelConfig, PeftConfig, RuntimeConfig, TrainConfig
from tfsft.model_dir import load_trained_model
from tfsft.serving.servability import check_servable


@pytest.mark.parametrize("cpu_flags, expected", [
    ({"avx512f", "avx512_bf16"}, "mixed_bfloat16"), ({"amx_bf16"}, "mixed_bfloat16"),
    ({"avx2", "avx512f"}, "none")])
def test_auto_is_bfloat16_for_bert_only_where_the_cpu_has_bfloat16_units(cpu_flags, expected,
                                                                         monkeypatch):
  monkeypatch.setattr(precision, "_cpu_flags", lambda: cpu_flags)
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
  assert trainer.with_task_defaults(TrainConfig(task="imdb")).runtime.mixed_precision == expected


def test_auto_keeps_float32_for_lstms_and_peft_and_given_values_win(monkeypatch):
  monkeypatch.setattr(precision, "_cpu_flags", lambda: {"amx_bf16"})
  resolved = lambda **fields: trainer.with_task_defaults(TrainConfig(**fields)).runtime
  assert resolved(task="translation").mixed_precision == "none"  # lstm_seq2seq: not measured
  assert resolved(task="imdb", peft=PeftConfig(peft="lora")).mixed_precision == "none"
  assert resolved(task="imdb", runtime=RuntimeConfig(mixed_precision="none")).mixed_precision == \
      "none"
  assert precision.resolve("auto", True, False, tpu="local") == "mixed_bfloat16"


def test_the_global_policy_is_put_back_after_a_scoped_build():
  before = keras.config.dtype_policy().name
  with precision.global_dtype_policy("mixed_bfloat16"):
    assert keras.layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
  assert keras.config.dtype_policy().name == before


def test_bfloat16_training_from_a_flagfile_exports_float32_scores(tiny_imdb, tiny_bert, tmp_path):
  flagfile = tmp_path / "imdb.flags"
  flagfile.write_text("\n".join([
      "--task=imdb", "--model=bert", f"--init_checkpoint={tiny_bert}", f"--data_path={tiny_imdb}",
      f"--model_dir={tmp_path / 'model'}", f"--export_dir={tmp_path / 'export'}",
      "--mixed_precision=mixed_bfloat16", "--batch_size=16", "--train_steps=10",
      "--max_seq_length=32"]) + "\n")
  process = assert_ok(run_cli("tfsft.train", f"--flagfile={flagfile}"))
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  inputs = {"text": ["great film", "awful film"]}
  report = check_servable(export_path, inputs)
  assert report["problems"] == []
  scores = np.array(report["signatures"]["serving_default"]["scores"])
  np.testing.assert_allclose(scores.sum(axis=-1), 1.0, atol=1e-5)

  run = load_trained_model(str(tmp_path / "model"))  # in its recorded precision, not the global
  assert keras.config.dtype_policy().name == "float32"
  assert run.encoder.backbone.dtype_policy.name == "mixed_bfloat16"
  assert run.model.get_layer("head_dropout").dtype_policy.name == "mixed_bfloat16"  # the head too
  in_memory = run.task.predict(run.model, run.encoder, run.encoder.preprocess(
      tf.constant(inputs["text"])), run.label_names)
  np.testing.assert_allclose(in_memory["scores"].numpy(), scores, atol=served_tolerance(run))


def test_a_resumed_run_keeps_its_checkpoints_precision(tiny_imdb, tiny_bert, tmp_path, caplog):
  def config(mixed_precision, steps):
    return TrainConfig(
        task="imdb", data=DataConfig(data_path=tiny_imdb),
        model=ModelConfig(model="bert", init_checkpoint=tiny_bert, max_seq_length=32),
        runtime=RuntimeConfig(model_dir=str(tmp_path / "model"), batch_size=16, train_steps=steps,
                              export=False, mixed_precision=mixed_precision))
  trainer.run(config("none", 2))
  with caplog.at_level("INFO", logger="absl"):
    assert trainer.run(config("mixed_bfloat16", 4))["step"] == 4
  assert "Resuming in the checkpoint's precision, --mixed_precision=none" in caplog.text
  assert "dtype policy: float32" in caplog.text
  with open(tmp_path / "model" / "tfsft_run.json") as handle:
    assert json.load(handle)["config"]["runtime"]["mixed_precision"] == "none"
  assert keras.config.dtype_policy().name == "float32"

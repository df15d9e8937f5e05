"""--peft through the production path (trainer.run, load_trained_model, tfsft.export,
tfsft.generate) on a tiny BERT classifier and a tiny Llama chat model: what trains, what the
checkpoint holds, resumption on the same base, merged exports, and PEFT-format adapters."""

import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfsft import trainer
from tfsft.config import (DataConfig, ModelConfig, OptimizerConfig, PeftConfig, RuntimeConfig,
                          TrainConfig)
from tfsft.errors import UserError
from tfsft.generation.completions import Completer, Request
from tfsft.model_dir import load_trained_model
from tfsft.peft import checkpoints, hugging_face
from tfsft.serving.servability import check_servable
from tiny_assets import labeled_rows
from tiny_gguf import LETTERS, conversations, write_chat_llama

pytestmark = pytest.mark.heavy  # trains and exports several models: started first (conftest.py)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
  path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
  with open(path, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["text", "label"])
    writer.writerows(labeled_rows())
  return str(path)


def classifier_config(tmp_path, tiny_bert, reviews, steps, **peft):
  return TrainConfig(
      task="text_classification", data=DataConfig(data_path=reviews),
      model=ModelConfig(model="bert", init_checkpoint=tiny_bert, max_seq_length=32),
      optimizer=OptimizerConfig(learning_rate=5e-3),
      runtime=RuntimeConfig(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "export"),
                            batch_size=16, train_steps=steps, checkpoint_every_steps=5),
      peft=PeftConfig(peft="lora", lora_rank=4, **peft))


def saved_sizes(prefix, scope):
  return sum(int(np.prod(shape)) for name, shape in tf.train.list_variables(prefix)
             if name.startswith(scope))


def test_lora_classifier_checkpoints_its_updates_resumes_on_its_base_and_exports_merged(
    tmp_path, tiny_bert, reviews):
  first = trainer.run(classifier_config(tmp_path, tiny_bert, reviews, steps=5))
  trainable = first["trainable_parameters"]
  assert trainable < first["total_parameters"] / 4  # LoRA on query/value, and the head
  latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
  # The model part of the checkpoint is exactly the trainable weights: no frozen base in it.
  assert saved_sizes(latest, "trained/") == trainable
  assert saved_sizes(latest, "") < 3 * trainable + 100  # + Adam's two slots and counters

  results = trainer.run(classifier_config(tmp_path, tiny_bert, reviews, steps=15))
  assert results["step"] == 15
  resumed = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
  # The resumed run went on training the same updates (every position of the list moved on).
  for name, _ in tf.train.list_variables(latest):
    if name.startswith("trained/") and name.endswith("VARIABLE_VALUE"):
      assert not np.array_equal(tf.train.load_variable(latest, name),
                                tf.train.load_variable(resumed, name)), name

  texts = ["A superb, wonderful film.", "Dull and awful."]
  unmerged = load_trained_model(str(tmp_path / "run"), merge_peft=False)
  assert unmerged.peft is not None
  features = unmerged.encoder.preprocess(tf.constant(texts))
  expected = tf.nn.softmax(unmerged.model(features)).numpy()
  report = check_servable(results["export_path"], {"text": texts})
  assert report["problems"] == []
  np.testing.assert_allclose(report["signatures"]["serving_default"]["scores"], expected, atol=1e-5)

  adapter = hugging_face.write_adapters(
      str(tmp_path / "adapter"), unmerged.model,
      unmerged.encoder.backbone, unmerged.peft, unmerged.config.peft, tiny_bert)
  with open(os.path.join(adapter, hugging_face.CONFIG_FILE)) as handle:
    written = json.load(handle)
  assert written["task_type"] == "SEQ_CLS" and written["modules_to_save"] == ["classifier"]

  # Adapters are only valid on the base they were trained on.
  record = tmp_path / "run" / checkpoints.RECORD
  record.write_text(record.read_text().replace('"base_fingerprint": "', '"base_fingerprint": "x'))
  with pytest.raises(UserError, match="holds other weights"):
    trainer.run(classifier_config(tmp_path, tiny_bert, reviews, steps=20))


def test_a_bfloat16_base_trains_float32_updates_and_exports(tmp_path, tiny_bert, reviews):
  results = trainer.run(classifier_config(tmp_path, tiny_bert, reviews, steps=4,
                                          base_dtype="bfloat16"))
  unmerged = load_trained_model(str(tmp_path / "run"), merge_peft=False)
  backbone = unmerged.encoder.backbone
  wrappers = [wrapper for _, _, wrapper in unmerged.peft.wrappers]
  assert {variable.dtype for variable in backbone.non_trainable_weights} == {"bfloat16"}
  assert {variable.dtype for w in wrappers for variable in w.trainable_weights} == {"float32"}
  texts = ["A superb, wonderful film.", "Dull and awful."]
  expected = tf.nn.softmax(unmerged.model(unmerged.encoder.preprocess(tf.constant(texts))))
  report = check_servable(results["export_path"], {"text": texts})
  assert report["problems"] == []
  # Merged into bfloat16 kernels: equal to bfloat16's precision.
  np.testing.assert_allclose(report["signatures"]["serving_default"]["scores"], expected,
                             atol=2e-2)


def test_lora_causal_lm_exports_merged_and_its_peft_adapter_gives_the_same_answers(tmp_path):
  base = write_chat_llama(str(tmp_path / "tiny.gguf"))
  chats = tmp_path / "train.jsonl"
  chats.write_text("".join(json.dumps(row) + "\n" for row in conversations()), encoding="utf-8")
  results = trainer.run(TrainConfig(
      task="instruction_tuning", data=DataConfig(data_path=str(chats)),
      model=ModelConfig(model="causal_lm", init_checkpoint=base, max_seq_length=48,
                        max_new_tokens=4),
      optimizer=OptimizerConfig(learning_rate=1e-2, warmup_ratio=0.0),
      runtime=RuntimeConfig(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "export"),
                            batch_size=8, train_steps=6, eval_generate_examples=0),
      peft=PeftConfig(peft="lora", lora_rank=4, lora_targets="q_proj,v_proj,down_proj")))
  assert results["trainable_parameters"] < results["total_parameters"] / 4

  prompts = [f"{letter} 99" for letter in LETTERS[:3]]
  served = tf.saved_model.load(results["export_path"]).signatures
  tokens = served["tokenize"](prompt=tf.constant(prompts))
  from_savedmodel = served["generate_token_ids"](**tokens)["token_ids"].numpy()
  unmerged = load_trained_model(str(tmp_path / "run"), merge_peft=False)
  in_python = unmerged.task.generator(unmerged.encoder).generate_token_ids(
      tokens["token_ids"], tokens["padding_mask"])["token_ids"].numpy()
  np.testing.assert_array_equal(from_savedmodel, in_python)

  adapter = hugging_face.write_adapters(
      str(tmp_path / "adapter"), unmerged.model, unmerged.encoder.causal_lm.backbone,
      unmerged.peft, unmerged.config.peft, base)
  base_size = os.path.getsize(base)
  assert os.path.getsize(os.path.join(adapter, hugging_face.WEIGHTS_FILE)) < base_size / 4
  rows = [{"prompt": prompt} for prompt in prompts]
  request = Request(max_new_tokens=4)
  with_adapter = [row["completion"] for row in Completer(
      init_checkpoint=base, adapters=adapter, max_prompt_tokens=48).complete(rows, request)]
  from_export = [row["completion"] for row in
                 Completer(saved_model=results["export_path"]).complete(rows, request)]
  assert with_adapter == from_export


@pytest.mark.parametrize("model, peft, message", [
    ("lstm", PeftConfig(peft="lora"), "--peft=lora wraps transformer layers; --model=lstm has none"),
    ("bert", PeftConfig(peft="lora", lora_targets="query,qkv"), "choose from query, key, value"),
    ("bert", PeftConfig(peft="adapter", lora_targets="query"), "--lora_targets is for --peft=lora"),
    ("bert", PeftConfig(base_dtype="bfloat16"), "--base_dtype is for --peft runs"),
    ("bert", PeftConfig(peft="lora", lora_rank=0), "--lora_rank=0 must be at least 1"),
])
def test_bad_peft_flags_fail_before_anything_is_written(tmp_path, reviews, model, peft, message):
  config = TrainConfig(task="text_classification", data=DataConfig(data_path=reviews),
                       model=ModelConfig(model=model),
                       runtime=RuntimeConfig(model_dir=str(tmp_path / "run")), peft=peft)
  with pytest.raises(UserError, match=message):
    trainer.run(config)
  assert not (tmp_path / "run").exists()


def test_adapters_go_on_a_base_checkpoint_only():
  with pytest.raises(UserError, match="pass --init_checkpoint with them"):
    Completer(saved_model="/no/such/1", adapters="/no/such/adapter")

"""Generative SFT with tiny causal LMs through the production path: a 2-layer Llama GGUF (written
by tests/tiny_gguf.py with a ChatML template) and a 2-layer GPT-2 keras-hub preset with the real
GPT-2 tokenizer ($TFSFT_TEST_MODELS). Training, evaluation, resumption, export, the SavedModel's
signatures against Python decoding, and tfsft.generate's three sources."""

import json
import os

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from conftest import shared_path
from tfsft import trainer
from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, RuntimeConfig, TrainConfig
from tfsft.data import causal_lm_examples, token_batches
from tfsft.data.packing import TokenizedExample
from tfsft.errors import UserError
from tfsft.generation.completions import Completer, Request
from tfsft.model_dir import load_trained_model
from tfsft.models import causal_lm
from tfsft.models.causal_lm_forward import NextTokenModel, next_token_loss_terms
from tfsft.serving import servability
from tiny_gguf import LETTERS, conversations, write_chat_llama

pytestmark = pytest.mark.heavy  # trains and exports tiny causal LMs: started first (conftest.py)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
  return write_chat_llama(str(tmp_path_factory.mktemp("llama") / "tiny.gguf"))


@pytest.fixture(scope="module")
def chats(tmp_path_factory):
  path = tmp_path_factory.mktemp("chats") / "train.jsonl"
  path.write_text("".join(json.dumps(row) + "\n" for row in conversations()), encoding="utf-8")
  return str(path)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
  folder = shared_path("TFSFT_TEST_MODELS", "gpt2-tokenizer")
  with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as handle:
    vocabulary = json.load(handle)
  with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as handle:
    merges = handle.read().splitlines()[1:]
  preset = str(tmp_path_factory.mktemp("gpt2"))
  keras_hub.models.GPT2Backbone(vocabulary_size=50257, num_layers=2, num_heads=2, hidden_dim=16,
                                intermediate_dim=32, max_sequence_length=128).save_to_preset(preset)
  keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges).save_to_preset(preset)
  return preset


def config(tmp_path, init_checkpoint, data, task="instruction_tuning", export=True, **runtime):
  return TrainConfig(
      task=task, data=data,
      model=ModelConfig(model="causal_lm", init_checkpoint=init_checkpoint, max_seq_length=48,
                        max_new_tokens=4),
      optimizer=OptimizerConfig(learning_rate=3e-3, warmup_ratio=0.0),
      runtime=RuntimeConfig(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "export"),
                            batch_size=8, eval_generate_examples=8, export=export,
                            checkpoint_every_steps=10, **runtime))


def test_only_assistant_turns_are_trained(tiny_llama):
  model = causal_lm.build(ModelConfig(init_checkpoint=tiny_llama, max_seq_length=64))
  chat = conversations(1)[0]["messages"]
  encoded = [causal_lm_examples.encode_conversation(chat)]
  example, = causal_lm_examples.conversation_examples(model, encoded, train_on_prompt=False)
  trained_text = model.tokenizer.detokenize(example.token_ids[example.trained])
  # Both answers and the end-of-turn each writes; no system, user or template text.
  assert trained_text == f"{chat[2]['content']}<|im_end|>\n{chat[4]['content']}<|im_end|>\n"
  everything, = causal_lm_examples.conversation_examples(model, encoded, train_on_prompt=True)
  assert everything.trained.all() and np.array_equal(everything.token_ids, example.token_ids)
  assert causal_lm_examples.prompt_and_reference(model, encoded[0]) == (
      model.template.prompt(chat[:-1]), chat[-1]["content"])


def test_long_examples_lose_their_prompt_side_or_are_dropped():
  prompt, answer = np.zeros(30, bool), np.ones(10, bool)
  example = TokenizedExample(np.arange(40, dtype=np.int32), np.concatenate([prompt, answer]))
  (kept,), counts = causal_lm_examples.fit_to_length([example], 16, "truncate")
  assert kept.token_ids.tolist() == list(range(24, 40)) and counts.truncated == 1
  assert kept.trained.sum() == 10  # the whole completion survives
  assert causal_lm_examples.fit_to_length([example], 16, "drop")[1].dropped == 1


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "length_grouped"])
def test_batches_hold_every_trained_token_once_and_score_like_single_examples(tiny_llama,
                                                                              packing):
  model = causal_lm.build(ModelConfig(init_checkpoint=tiny_llama, max_seq_length=64))
  encoded = [causal_lm_examples.encode_conversation(row["messages"]) for row in conversations(20)]
  examples = causal_lm_examples.conversation_examples(model, encoded, train_on_prompt=False)
  make = (lambda: token_batches.packed_batches(examples, 64, 4, 0, training=False)) if packing \
      else (lambda: token_batches.length_grouped_batches(examples, 4, 0, False, max_width=64,
                                                          pad_to_multiple=8))
  network = NextTokenModel(model.causal_lm)
  total = count = 0.0
  for features in make().dataset():
    assert features["token_ids"].shape[1] % 8 == 0
    batch_total, batch_count = next_token_loss_terms(network(features), features["token_ids"],
                                                     features["segment_ids"], features["trained"])
    total, count = total + float(batch_total), count + float(batch_count)
  alone_total = alone_count = 0.0
  for example in examples:
    features = {"token_ids": example.token_ids[None], "segment_ids": np.ones_like(
        example.token_ids)[None], "positions": np.arange(len(example.token_ids))[None],
                "trained": example.trained.astype(np.int32)[None]}
    t, c = next_token_loss_terms(network(features), *(features[k] for k in (
        "token_ids", "segment_ids", "trained")))
    alone_total, alone_count = alone_total + float(t), alone_count + float(c)
  assert count == alone_count == sum(int(e.trained[1:].sum()) for e in examples)
  np.testing.assert_allclose(total / count, alone_total / alone_count, rtol=1e-5)


def test_instruction_tuning_trains_resumes_and_exports_a_servable_generator(tiny_llama, chats,
                                                                             tmp_path):
  data = DataConfig(data_path=chats, packing=True, validation_fraction=0.2, test_fraction=0.1)
  first = trainer.run(config(tmp_path, tiny_llama, data, export=False, train_steps=1))
  results = trainer.run(config(tmp_path, tiny_llama, data, train_steps=25))
  validation = results["validation"]
  assert validation["loss"] < first["validation"]["loss"] - 0.5  # held-out completions
  assert {"perplexity", "token_accuracy", "generated_bleu", "generated_rouge_l",
          "generated_exact_match"} <= set(validation)
  assert 0 < validation["trained_fraction"] < 0.5  # system and user turns carry no loss
  saved = json.load(open(tmp_path / "run" / "eval_results.json"))
  assert saved["validation"]["loss"] == validation["loss"]

  export = results["export_path"]
  prompts = [f"{letter} 99" for letter in LETTERS[:3]]
  served = tf.saved_model.load(export).signatures
  tokens = served["tokenize"](prompt=tf.constant(prompts))
  from_savedmodel = served["generate_token_ids"](**tokens)
  trained = load_trained_model(str(tmp_path / "run"))
  generator = trained.task.generator(trained.encoder)
  in_python = generator.generate_token_ids(tokens["token_ids"], tokens["padding_mask"])
  np.testing.assert_array_equal(from_savedmodel["token_ids"], in_python["token_ids"])
  greedy = served["serving_default"](prompt=tf.constant(prompts))["completion"].numpy()
  request = dict(max_new_tokens=tf.constant(4), temperature=tf.constant(0.0),
                 top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(0))
  assert served["generate"](prompt=tf.constant(prompts), **request)["completion"].numpy(
  ).tolist() == greedy.tolist()
  sampled = [served["generate"](prompt=tf.constant(prompts), **{
      **request, "temperature": tf.constant(1.5), "seed": tf.constant(seed)})["completion"].numpy()
             for seed in (1, 1, 2)]
  assert sampled[0].tolist() == sampled[1].tolist()  # a seed reproduces its draw
  scores = served["score"](prompt=tf.constant(prompts[:1] * 2),
                           completion=tf.constant(["a", "a b c"]))
  assert scores["num_tokens"].numpy().tolist()[0] < scores["num_tokens"].numpy().tolist()[1]

  report = servability.check_servable(export, {
      "prompt": prompts, "completion": ["a", "b", "c"], "max_new_tokens": 3,
      "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": 0})
  assert report["problems"] == []
  assert set(report["signatures"]) >= {"serving_default", "generate", "generate_token_ids",
                                       "score", "tokenize"}

  # The fine-tuned model as a Hugging Face directory, read back as a checkpoint: same answers.
  hugging_face = causal_lm.write_hugging_face(trained.encoder, str(tmp_path / "hf"))
  reread = causal_lm.build(ModelConfig(init_checkpoint=hugging_face, max_seq_length=48,
                                       max_new_tokens=4))
  assert reread.template.template == trained.encoder.template.template
  assert reread.stop_token_ids == trained.encoder.stop_token_ids
  again = trained.task.generator(reread).generate_token_ids(tokens["token_ids"],
                                                            tokens["padding_mask"])
  np.testing.assert_array_equal(again["token_ids"], in_python["token_ids"])

  request = Request(max_new_tokens=4)
  rows = [{"prompt": prompt} for prompt in prompts]
  from_model_dir = [row["completion"] for row in
                    Completer(model_dir=str(tmp_path / "run")).complete(rows, request)]
  from_export = [row["completion"] for row in Completer(saved_model=export).complete(rows, request)]
  assert from_model_dir == from_export == [text.decode() for text in greedy]


def test_language_modeling_on_a_tiny_gpt2(tiny_gpt2, tmp_path):
  text = tmp_path / "corpus.txt"
  text.write_text("\n".join(f"the cat sat on the mat number {i} and looked at the dog"
                            for i in range(80)), encoding="utf-8")
  data = DataConfig(data_path=str(text))
  results = trainer.run(config(tmp_path, tiny_gpt2, data, task="language_modeling",
                               train_steps=30))
  assert results["validation"]["loss"] < np.log(50257) - 0.5  # clearly below a uniform guess
  # Every token but each piece's first (nothing before it to predict it from) is trained.
  assert results["validation"]["trained_fraction"] > 0.9
  completion, = Completer(saved_model=results["export_path"]).complete(
      [{"prompt": "the cat sat on"}], Request(max_new_tokens=3))
  assert completion["completion"]  # continues the raw text: no chat template for this task


@pytest.mark.parametrize("data, model, message", [
    (DataConfig(), {}, "--task=instruction_tuning reads local files"),
    (DataConfig(text_from_task="translation"), {}, "needs --prompt_template"),
    (DataConfig(data_path="x.jsonl", prompt_template="{source}"), {}, "pass --text_from_task"),
    (DataConfig(data_path="x.jsonl", long_examples="cut"), {}, "unknown --long_examples=cut"),
    (DataConfig(data_path="x.jsonl"), {"top_k": 5}, "set --temperature above 0"),
    (DataConfig(data_path="x.jsonl"), {"top_p": 0.0}, "--top_p=0.0 must be above 0"),
])
def test_bad_causal_lm_flags_fail_before_anything_is_written(data, model, message, tmp_path):
  bad = TrainConfig(task="instruction_tuning", data=data,
                    model=ModelConfig(model="causal_lm", init_checkpoint="x.gguf", **model),
                    runtime=RuntimeConfig(model_dir=str(tmp_path / "run")))
  with pytest.raises(UserError, match=message):
    trainer.run(bad)
  assert not os.path.exists(tmp_path / "run")

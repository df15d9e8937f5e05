"""Every causal-LM architecture tfsft names (GPT-2, Llama 3, Mistral, Qwen, Gemma) through the same
production path as a real checkpoint: a tiny random keras-hub backbone and tokenizer
(tests/tiny_causal_lms.py) written as a Hugging Face directory with a ChatML chat template and its
special tokens (models/hugging_face_export.py), read back by `causal_lm.build` as
--init_checkpoint, then
  * greedy decoding (generation/decoding.py, the loop the SavedModel runs) gives the tokens of
    keras-hub's own `<Arch>CausalLM.generate`;
  * one optimizer step of NextTokenModel on the instruction-tuning task's batches of a few chats
    (length-grouped, and packed where the decoder layers take an attention mask) lowers the loss;
    Gemma's take none, and the task refuses --packing for it;
  * prompts tokenized inside a tf.function (as in the SavedModel) get the eager ids, ChatML's
    special tokens each one id.
About a minute on 2 CPU cores, a third of it tracing keras-hub's in-graph byte-level BPE (6-8 s a
family: the cost every SavedModel export pays too).
"""

from typing import Callable, NamedTuple

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tiny_causal_lms as tiny
from tfsft.config import DataConfig, ModelConfig, RuntimeConfig, TrainConfig
from tfsft.data import causal_lm_examples
from tfsft.errors import UserError
from tfsft.generation.text_generation import TextGenerator, single_turn_format
from tfsft.models import causal_lm
from tfsft.models.causal_lm_forward import can_pack
from tfsft.models.hugging_face_export import write_hugging_face_directory
from tfsft.tasks import TASKS

MAX_SEQ_LENGTH, MAX_NEW_TOKENS = 32, 6
# SentencePiece vocabularies name their own start and padding pieces; ChatML ends the turn.
SENTENCEPIECE_CHATML = {"eos_token": "<|im_end|>"}


class Architecture(NamedTuple):
  name: str
  backbone: Callable  # vocabulary size -> backbone
  tokenizer: Callable  # () -> tokenizer that has ChatML's tokens
  causal_lm_class: type  # what keras-hub itself generates with
  special_tokens: dict
  add_bos_token: bool = False
  float16_exact: bool = False  # keras-hub's Mistral reader rounds weights to float16
  packs: bool = True


ARCHITECTURES = [
    Architecture("gpt2", tiny.gpt2_backbone, tiny.gpt2_tokenizer, keras_hub.models.GPT2CausalLM,
                 tiny.CHATML_SPECIAL_TOKENS),
    # A start token the template itself writes: never doubled.
    Architecture("llama3", tiny.llama3_backbone, tiny.chatml_llama3_tokenizer,
                 keras_hub.models.Llama3CausalLM, tiny.CHATML_SPECIAL_TOKENS, add_bos_token=True),
    Architecture("mistral", tiny.mistral_backbone, tiny.chatml_mistral_tokenizer,
                 keras_hub.models.MistralCausalLM, SENTENCEPIECE_CHATML, add_bos_token=True,
                 float16_exact=True),
    Architecture("qwen", tiny.qwen_backbone, tiny.chatml_qwen_tokenizer,
                 keras_hub.models.QwenCausalLM, tiny.CHATML_SPECIAL_TOKENS),
    Architecture("gemma", tiny.gemma_backbone, tiny.chatml_gemma_tokenizer,
                 keras_hub.models.GemmaCausalLM, SENTENCEPIECE_CHATML, add_bos_token=True,
                 packs=False),
]
# Words every tiny vocabulary has pieces for; short enough that two share a packed row.
CHATS = [[{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hello world"}],
         [{"role": "user", "content": "the capital"}, {"role": "assistant", "content": "Paris"}],
         [{"role": "user", "content": "France"}, {"role": "assistant", "content": "the world"}],
         [{"role": "user", "content": "the world"}, {"role": "assistant", "content": "Hello"}]]
PROMPTS = ["Hello world", "What is the capital of France?"]


class Loaded(NamedTuple):
  architecture: Architecture
  model: causal_lm.CausalLanguageModel


@pytest.fixture(scope="module", params=ARCHITECTURES, ids=lambda architecture: architecture.name)
def loaded(request, tmp_path_factory):
  architecture = request.param
  tokenizer = architecture.tokenizer()
  backbone = tiny.randomized(architecture.backbone(tokenizer.vocabulary_size()),
                             float16_exact=architecture.float16_exact)
  directory = str(tmp_path_factory.mktemp(architecture.name))
  write_hugging_face_directory(backbone, tokenizer, directory, chat_template=tiny.CHATML,
                               special_tokens=architecture.special_tokens,
                               add_bos_token=architecture.add_bos_token)
  model = causal_lm.build(ModelConfig(model="causal_lm", init_checkpoint=directory,
                                      max_seq_length=MAX_SEQ_LENGTH,
                                      max_new_tokens=MAX_NEW_TOKENS))
  return Loaded(architecture, model)


def generator(model) -> TextGenerator:
  """The instruction-tuning task's generator (what evaluation and the SavedModel run)."""
  return TASKS.get("instruction_tuning")(DataConfig()).generator(model)


def prompt_ids(model, message) -> np.ndarray:
  """Eager: the ChatML prompt of one user message as the model is given it."""
  rendered = model.template.prompt([{"role": "user", "content": message}])
  return model.with_start_token(model.token_ids([rendered])[0])


def test_the_checkpoint_is_read_as_its_own_architecture(loaded):
  model, architecture = loaded.model, loaded.architecture
  assert type(model.causal_lm) is architecture.causal_lm_class
  # keras-hub's generic Tokenizer.from_preset may give Mistral an empty MistralTekkenTokenizer.
  assert type(model.tokenizer) is architecture.causal_lm_class.preprocessor_cls.tokenizer_cls
  assert model.template.template == tiny.CHATML
  end_of_turn = int(model.tokenizer.token_to_id("<|im_end|>"))
  assert model.stop_token_ids == (end_of_turn,)
  assert (model.start_token_id is not None) == architecture.add_bos_token
  assert can_pack(model.backbone) == architecture.packs


def test_greedy_tokens_are_keras_hub_generate_tokens(loaded):
  model = loaded.model
  prompts = [prompt_ids(model, message) for message in PROMPTS]
  longest = max(len(ids) for ids in prompts)
  assert longest + MAX_NEW_TOKENS <= model.context_length
  token_ids = np.full([len(prompts), longest], model.pad_token_id, np.int32)
  padding_mask = np.zeros_like(token_ids)
  for row, ids in enumerate(prompts):
    token_ids[row, :len(ids)], padding_mask[row, :len(ids)] = ids, 1
  ours = generator(model).generate_token_ids(tf.constant(token_ids), tf.constant(padding_mask))
  ours_ids, ours_real = ours["token_ids"].numpy()[:, 0], ours["padding_mask"].numpy()[:, 0]

  # keras-hub's own generate on the same backbone: right-padded room for the new tokens, no
  # stopping (its stop handling differs); our rows are cut at their stop token, so the first N.
  # Eager: the same greedy steps without a few seconds of XLA compilation per family.
  theirs = loaded.architecture.causal_lm_class(backbone=model.backbone, preprocessor=None)
  theirs.compile(sampler="greedy", run_eagerly=True)
  room = np.pad(token_ids, [(0, 0), (0, MAX_NEW_TOKENS)])
  generated = theirs.generate({"token_ids": room, "padding_mask": np.pad(
      padding_mask, [(0, 0), (0, MAX_NEW_TOKENS)]).astype(bool)}, stop_token_ids=None)
  compared = 0
  for row, ids in enumerate(prompts):
    count = int(ours_real[row].sum())
    assert count >= 1
    expected = np.asarray(generated["token_ids"])[row, len(ids):len(ids) + count]
    np.testing.assert_array_equal(ours_ids[row, :count], expected, err_msg=PROMPTS[row])
    if count < MAX_NEW_TOKENS:  # stopped early: at a stop token
      assert ours_ids[row, count - 1] in model.stop_token_ids
    compared += count
  assert compared >= MAX_NEW_TOKENS  # at least half of what was asked for


def train_config(packing: bool) -> TrainConfig:
  return TrainConfig(task="instruction_tuning", data=DataConfig(packing=packing),
                     model=ModelConfig(model="causal_lm", max_seq_length=MAX_SEQ_LENGTH),
                     runtime=RuntimeConfig(batch_size=2))


def chats_dataset() -> tf.data.Dataset:
  """The (text, location) examples InstructionTuningTask.load_data gives."""
  encoded = [causal_lm_examples.encode_conversation(chat) for chat in CHATS]
  return tf.data.Dataset.from_tensor_slices((encoded, [""] * len(encoded)))


@pytest.mark.parametrize("packing", [False, True], ids=["length_grouped", "packed"])
def test_one_optimizer_step_lowers_the_loss_on_its_batch(loaded, packing):
  model, config = loaded.model, train_config(packing)
  task = TASKS.get("instruction_tuning")(config.data)
  if packing and not loaded.architecture.packs:
    with pytest.raises(UserError, match="--packing needs decoder layers that take an attention "
                       "mask; GemmaBackbone's do not: train without --packing"):
      task.training_batches(model, chats_dataset(), len(CHATS), config)
    return
  # conversation_examples -> fit_to_length -> packed_batches or length_grouped_batches.
  batches = task.training_batches(model, chats_dataset(), len(CHATS), config)
  features = next(iter(batches.dataset(seed=0)))
  assert features["token_ids"].shape[0] == config.runtime.batch_size
  network = task.build_model(model, config.model, ())
  logits = network(features, training=False)
  if packing:
    assert features["token_ids"].shape[1] == MAX_SEQ_LENGTH
    assert int(tf.reduce_max(features["segment_ids"])) >= 2  # examples share a row
  else:  # one example a row: the logits keras-hub's own CausalLM computes
    real = features["segment_ids"] > 0
    own = model.causal_lm({"token_ids": features["token_ids"], "padding_mask": real})
    real = real.numpy()
    np.testing.assert_allclose(np.asarray(logits)[real], np.asarray(own)[real], atol=1e-4)
  # Eager: the compiled step's arithmetic, without seconds of tracing per family.
  network.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss=task.loss(),
                  run_eagerly=True)
  weights = model.backbone.get_weights()
  try:
    before = float(network.compute_loss(x=features, y_pred=logits))
    network.train_on_batch(features)
    after = float(network.compute_loss(x=features, y_pred=network(features, training=False)))
  finally:
    model.backbone.set_weights(weights)  # the other tests see the checkpoint's weights
  assert np.isfinite(before) and after < before - 0.05, (before, after)


def test_prompts_tokenized_in_a_graph_get_the_eager_ids(loaded):
  model = loaded.model
  text_generator = generator(model)
  assert single_turn_format(model.template).prefix == "<|im_start|>user\n"

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def tokenize(prompts):  # the SavedModel's `tokenize` signature
    return text_generator.prompt_token_ids(text_generator.formatted(prompts))

  token_ids, padding_mask = (tensor.numpy() for tensor in tokenize(tf.constant(PROMPTS)))
  im_start, im_end = (int(model.tokenizer.token_to_id(token))
                      for token in ("<|im_start|>", "<|im_end|>"))
  for row, message in enumerate(PROMPTS):
    expected = prompt_ids(model, message)
    assert len(expected) <= MAX_SEQ_LENGTH  # nothing cut: the whole prompt is compared
    in_graph = token_ids[row, :int(padding_mask[row].sum())]
    np.testing.assert_array_equal(in_graph, expected, err_msg=message)
    # ChatML's tokens whole: two turn starts and one turn end, one id each.
    assert (list(in_graph).count(im_start), list(in_graph).count(im_end)) == (2, 1)
    if model.start_token_id is not None and model.start_token_id != im_start:
      assert in_graph[0] == model.start_token_id  # Mistral's <s>, Gemma's <bos>

"""GGUF checkpoints (tfsft/models/gguf_checkpoint.py): a tiny llama written here, and real SmolLM2.

Tiny: the tests write a 2-layer llama GGUF with gguf.GGUFWriter the way llama.cpp's converter does
(q/k rows rotary-permuted, matrices quantized) and compare load_gguf's logits with those of
keras-hub's own Hugging Face loader given the file's weights (dequantized by gguf, rows put back
by index): the names table, the un-permutation and the config are checked, not the quantization.
Real: ../shared/models/smollm2-135m-instruct (via $TFSFT_TEST_MODELS), loaded once for the module;
the numbers come from that folder's README.
"""

import json
import os
import subprocess
import sys
from typing import NamedTuple

import keras
import keras_hub
import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf

from conftest import REPO, shared_path
from tiny_gguf import (CHAT_TEMPLATE, CHATML, CONTROL_TOKENS, EPSILON, HEAD_DIM, HEADS, HF_NAMES,
                       HIDDEN, INTERMEDIATE, KV_HEADS, LAYERS, TOKEN_IDS, llama_cpp_permute,
                       tiny_vocabulary, tiny_weights, weights_as_stored, write_tiny_gguf)
from tfsft.config import ModelConfig
from tfsft.errors import UserError
from tfsft.models import causal_lm, gguf_checkpoint
from tfsft.models.gguf_checkpoint import load_gguf


def hugging_face_backbone(directory, weights):
  """The same weights through keras-hub's own loader (a Hugging Face Llama directory)."""
  os.makedirs(directory, exist_ok=True)
  config = {"model_type": "llama", "vocab_size": len(weights["token_embd.weight"]),
            "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "hidden_size": HIDDEN,
            "num_key_value_heads": KV_HEADS, "intermediate_size": INTERMEDIATE,
            "rope_theta": 10000.0, "rms_norm_eps": EPSILON, "tie_word_embeddings": False}
  with open(os.path.join(directory, "config.json"), "w") as handle:
    json.dump(config, handle)
  tensors = {}
  for name, array in weights.items():
    parts = name.split(".")
    if parts[0] == "blk":
      tensors[f"model.layers.{parts[1]}.{HF_NAMES[parts[2]]}.weight"] = array
    else:
      tensors[f"{HF_NAMES[parts[0]]}.weight"] = array
  safetensors.numpy.save_file(tensors, os.path.join(directory, "model.safetensors"),
                              metadata={"format": "pt"})
  # keras-hub's converter ignores rms_norm_eps (README), so it is passed here.
  return keras_hub.models.Backbone.from_preset(directory, layer_norm_epsilon=EPSILON)


def relative_error(actual, expected):
  return np.linalg.norm(actual - expected) / np.linalg.norm(expected)


def logits(backbone, token_ids=TOKEN_IDS, padding_mask=None):
  padding_mask = token_ids != 0 if padding_mask is None else padding_mask
  hidden = backbone({"token_ids": token_ids, "padding_mask": padding_mask})
  scores = backbone.token_embedding(hidden, reverse=True)
  return keras.ops.convert_to_numpy(keras.ops.cast(scores, "float32"))


class TinyFile(NamedTuple):
  path: str
  weights: dict  # the float32 weights it was written from (Hugging Face layout)
  reference_logits: np.ndarray  # keras-hub's own loader on the weights as stored, for TOKEN_IDS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  folder = tmp_path_factory.mktemp("tiny_gguf")
  weights = tiny_weights(len(tiny_vocabulary()[0]))
  path = write_tiny_gguf(folder / "tiny.gguf", weights)
  reference = hugging_face_backbone(str(folder / "hugging_face"), weights_as_stored(path))
  return TinyFile(path, weights, logits(reference))


# --- Tiny file tests ------------------------------------------------------------------------------


def test_undo_rotary_permutation_reverses_llama_cpp_row_order():
  rows = np.arange(2 * 64 * 3, dtype=np.float32).reshape(2 * 64, 3)
  restored = gguf_checkpoint.undo_rotary_permutation(llama_cpp_permute(rows, 2), 2)
  np.testing.assert_array_equal(restored, rows)
  # README: in a head of 64 rows, Hugging Face row a * 32 + b was written to GGUF row b * 2 + a.
  gguf_rows = llama_cpp_permute(rows, 2)
  a, b = 1, 5
  np.testing.assert_array_equal(gguf_rows[64 + b * 2 + a], rows[64 + a * 32 + b])


def test_tiny_gguf_gives_the_logits_of_its_weights(tiny):
  model = load_gguf(tiny.path)
  # Same float32 weights, same keras-hub layers: equal up to float32 rounding (measured: 0.0).
  np.testing.assert_allclose(logits(model.backbone), tiny.reference_logits, rtol=0, atol=1e-5)
  assert not model.backbone.tie_word_embeddings  # the file has output.weight
  assert model.backbone.layer_norm_epsilon == pytest.approx(EPSILON)
  assert model.special_token_ids == gguf_checkpoint.SpecialTokenIds(bos=1, eos=2, pad=2, unk=0)
  assert (model.chat_template, model.add_bos_token, model.context_length) == (
      CHAT_TEMPLATE, False, 64)
  for name in ("Q8_0", "F16", "F32", "Q4_1", "Q4_0", "BF16", "Q5_1", "Q5_0"):
    assert name in model.description


def test_forgetting_the_rotary_unpermutation_changes_the_logits(tiny, monkeypatch):
  # Nothing crashes when it is forgotten (README: SmolLM2's perplexity goes from 25.2 to 45.4),
  # so the comparison above must be able to see it.
  monkeypatch.setattr(gguf_checkpoint, "undo_rotary_permutation", lambda rows, num_heads: rows)
  forgetful = logits(load_gguf(tiny.path).backbone)
  assert relative_error(forgetful, tiny.reference_logits) > 0.2  # measured: 0.70


def test_a_tied_head_is_restored_tied_and_exportable_from_the_model_dir(tmp_path):
  # SmolLM2 has no output.weight. keras-hub's Llama get_config leaves tie_word_embeddings out, so
  # the model_dir's architecture must record it: restored untied, the backbone has a head matrix
  # that no checkpoint holds, and resuming or exporting from the model_dir fails.
  weights = tiny_weights(len(tiny_vocabulary()[0]))
  del weights["output.weight"]
  config = ModelConfig(model="causal_lm", init_checkpoint=str(write_tiny_gguf(
      tmp_path / "tied.gguf", weights)))
  built = causal_lm.build(config)
  assert built.backbone.tie_word_embeddings
  os.makedirs(tmp_path / "encoder")
  causal_lm.save(built, str(tmp_path / "encoder"))
  restored = causal_lm.restore(config, str(tmp_path / "encoder"))
  assert restored.backbone.tie_word_embeddings
  assert ([(v.path, v.shape) for v in restored.backbone.weights]
          == [(v.path, v.shape) for v in built.backbone.weights])
  keras.export.ExportArchive().track(restored.tokenizer)  # what tfsft.export does first


def test_bfloat16_loading_keeps_the_logits_close(tiny):
  model = load_gguf(tiny.path, dtype="bfloat16")
  assert model.backbone.token_embedding.embeddings.dtype == "bfloat16"
  # bfloat16 keeps 8 bits of mantissa: a few percent (measured: 2.5%), far below a wrong weight.
  assert relative_error(logits(model.backbone), tiny.reference_logits) < 0.05


def test_tokenizer_comes_from_the_gguf_metadata(tiny):
  tokenizer = gguf_checkpoint.load_gguf_tokenizer(tiny.path)
  tokens, _ = tiny_vocabulary()
  assert tokenizer("Hello world").tolist() == [tokens.index("Hello"), tokens.index("Ġworld")]
  chatml = tokenizer("<|im_start|>user\nHello<|im_end|>\n").tolist()
  assert chatml == [1, tokens.index("user"), tokens.index("Ċ"), tokens.index("Hello"), 2,
                    tokens.index("Ċ")]
  assert tokenizer.detokenize(chatml) == "<|im_start|>user\nHello<|im_end|>\n"
  # bos/eos/pad/unk and the template's tokens, not all 17 (keras-hub's limit is 10).
  assert sorted(tokenizer.unsplittable_tokens) == sorted(CONTROL_TOKENS[:3])
  assert (tokenizer.start_token_id, tokenizer.end_token_id, tokenizer.pad_token_id) == (1, 2, 2)


def test_at_most_ten_control_tokens_are_kept_whole(tiny, tmp_path):
  # A template naming all 17: keras-hub's in-graph BPE would mangle some of them, so 10 are kept,
  # bos/eos/pad/unk first, and the rest are split like text on both paths.
  text = "".join(CONTROL_TOKENS)
  path = write_tiny_gguf(tmp_path / "many.gguf", tiny.weights, chat_template=text)
  tokenizer = gguf_checkpoint.load_gguf_tokenizer(path)
  assert len(tokenizer.unsplittable_tokens) == gguf_checkpoint.MAX_UNSPLITTABLE_TOKENS == 10
  assert set(CONTROL_TOKENS[:3]) <= set(tokenizer.unsplittable_tokens)
  in_graph = next(iter(tf.data.Dataset.from_tensors(text).map(tokenizer))).numpy().tolist()
  assert in_graph == tokenizer(text).tolist()
  assert in_graph[:10] == list(range(10)) and len(in_graph) > len(CONTROL_TOKENS)


_TOKEN_IDS_EAGER_AND_IN_GRAPH = """
import json, sys
import numpy as np
import tensorflow as tf
from tfsft.models.gguf_checkpoint import load_gguf_tokenizer
text, paths = sys.argv[1], sys.argv[2:]
ids = {}
for path in paths:
  tokenizer = load_gguf_tokenizer(path)
  in_graph = next(iter(tf.data.Dataset.from_tensors(text).map(tokenizer)))
  ids[path] = [np.asarray(tokenizer(text)).tolist(), in_graph.numpy().tolist()]
print(json.dumps(ids))
"""


def real_gguf_if_available():
  root = os.environ.get("TFSFT_TEST_MODELS")
  path = root and os.path.join(root, "smollm2-135m-instruct", "SmolLM2-135M-Instruct-Q4_1.gguf")
  return [path] if path and os.path.exists(path) else []


def test_control_tokens_stay_whole_in_tf_data_under_two_hash_seeds(tiny):
  # README: with all 17 special tokens unsplittable, which ones break inside tf.data depends on
  # PYTHONHASHSEED (1, 2 and 3 each broke some). One process per seed, run side by side, each
  # checking the tiny file and, when $TFSFT_TEST_MODELS is set, SmolLM2.
  paths = [tiny.path] + real_gguf_if_available()
  processes = [subprocess.Popen(
      [sys.executable, "-c", _TOKEN_IDS_EAGER_AND_IN_GRAPH, CHATML, *paths], text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      env=dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2"))
      for seed in ("1", "2")]
  for process in processes:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-4000:]
    for path, (eager, in_graph) in json.loads(stdout.splitlines()[-1]).items():
      assert eager == in_graph, path
      # Both files have <|im_start|> = 1 and <|im_end|> = 2, each twice in CHATML.
      assert (eager.count(1), eager.count(2)) == (2, 2), (path, eager)


def _unchanged(weights):
  return weights


def _without(name):
  return lambda weights: {key: array for key, array in weights.items() if key != name}


def _with(name, make):
  """The weights with tensor `name` set to make(its current value, or None)."""
  return lambda weights: {**weights, name: make(weights.get(name))}


@pytest.mark.parametrize("architecture, edit, message", [
    ("qwen2", _unchanged, "GGUF architecture 'qwen2' is not supported"),
    ("llama", _with("blk.0.attn_norm.weight", lambda array: array.astype(np.int32)),
     "tensor blk.0.attn_norm.weight has GGML type I32"),
    ("llama", _without("blk.1.ffn_down.weight"), "lacks 1 tensors"),
    ("llama", _with("blk.1.ffn_up.weight", lambda array: array[:, :32]),
     r"tensor blk.1.ffn_up.weight has shape \(96, 32\)"),
    ("llama", _with("rope_freqs.weight", lambda _: np.ones(HEAD_DIM // 2, np.float32)),
     "tensor rope_freqs.weight has no place"),
])
def test_unsupported_files_are_one_line_user_errors(tiny, tmp_path, architecture, edit, message):
  path = write_tiny_gguf(tmp_path / "bad.gguf", edit(tiny.weights), architecture=architecture)
  with pytest.raises(UserError, match=message) as error:
    load_gguf(path)
  assert path in str(error.value) and "\n" not in str(error.value)


def test_a_file_that_is_not_gguf_is_a_user_error(tmp_path):
  path = tmp_path / "model.gguf"
  path.write_text("not a model")
  with pytest.raises(UserError, match="not a GGUF file"):
    load_gguf(str(path))


# --- The real SmolLM2-135M-Instruct file ----------------------------------------------------------

# README "Perplexity" (no BOS, sequence length 160): 25.2 on 5 short everyday sentences, 6.7 on 2
# encyclopedia-style paragraphs (Eiffel Tower, photosynthesis), and 45.4 on the short sentences
# when q/k are not unpermuted; it expects "roughly 6-10 on a paragraph of ordinary English". It
# does not list its texts: these are texts of the same kinds (the two sentences it quotes,
# Wikipedia's opening lines on its two subjects), so the bounds allow for the wording but not for
# a broken loader (measured 2026-11-24: 27.1 and 8.0; with q/k left permuted 46.6 and 46.0).
README_SHORT_SENTENCES_PERPLEXITY = 25.2
README_PARAGRAPH_PERPLEXITY_RANGE = (6, 10)
SHORT_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France.",
    "I like to drink a cup of coffee in the morning.",
    "The weather is nice today, so we went for a walk in the park.",
    "She forgot her umbrella and got wet in the rain."]
PARAGRAPHS = [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is "
    "named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 "
    "to 1889. Locally nicknamed \"La dame de fer\" (French for \"Iron Lady\"), it was constructed "
    "as the centrepiece of the 1889 World's Fair, and to crown the centennial anniversary of the "
    "French Revolution.",
    "Photosynthesis is a process used by plants and other organisms to convert light energy into "
    "chemical energy that, through cellular respiration, can later be released to fuel the "
    "organism's activities. Some of this chemical energy is stored in carbohydrate molecules, such "
    "as sugars and starches, which are synthesized from carbon dioxide and water."]


@pytest.fixture(scope="module")
def smollm2():
  return load_gguf(shared_path("TFSFT_TEST_MODELS", "smollm2-135m-instruct",
                               "SmolLM2-135M-Instruct-Q4_1.gguf"))


def perplexity(model, texts, sequence_length=160):
  """The README's measure: each text its own row, no BOS, the first token not scored."""
  ids = [np.asarray(model.tokenizer(text)) for text in texts]
  token_ids = np.zeros((len(texts), sequence_length), np.int32)
  for row, text_ids in enumerate(ids):
    token_ids[row, :len(text_ids)] = text_ids
  padding_mask = np.arange(sequence_length) < np.array([[len(text_ids)] for text_ids in ids])
  log_probs = keras.ops.convert_to_numpy(
      keras.ops.log_softmax(logits(model.backbone, token_ids, padding_mask), axis=-1))
  next_token = np.take_along_axis(log_probs[:, :-1], token_ids[:, 1:, None], axis=-1)[..., 0]
  return float(np.exp(-next_token[padding_mask[:, 1:]].mean()))


def test_smollm2_is_loaded_as_its_readme_describes(smollm2):
  assert smollm2.backbone.count_params() == 134_515_008
  assert smollm2.backbone.tie_word_embeddings  # no output.weight in the file
  assert smollm2.special_token_ids == gguf_checkpoint.SpecialTokenIds(bos=1, eos=2, pad=2, unk=0)
  assert smollm2.special_token_ids.stop_token_ids == (2,)  # <|im_end|>
  assert (smollm2.add_bos_token, smollm2.context_length) == (False, 8192)
  assert smollm2.chat_template.startswith("{% for message in messages %}")
  tokenizer = smollm2.tokenizer
  assert sorted(tokenizer.unsplittable_tokens) == ["<|endoftext|>", "<|im_end|>", "<|im_start|>"]
  assert len(tokenizer("<repo_name>")) > 1  # the 14 code tokens are plain text (README)


def test_smollm2_perplexity_matches_the_readme(smollm2):
  short_sentences = perplexity(smollm2, SHORT_SENTENCES)
  # Within a quarter of the README's value: its texts are unknown, un-permuted q/k give 45.4.
  assert abs(short_sentences / README_SHORT_SENTENCES_PERPLEXITY - 1) < 0.25, short_sentences
  low, high = README_PARAGRAPH_PERPLEXITY_RANGE
  paragraphs = perplexity(smollm2, PARAGRAPHS)
  assert low < paragraphs < high, paragraphs


def test_smollm2_answers_in_chatml_and_ends_its_turn(smollm2):
  prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
  prompt_ids = np.asarray(smollm2.tokenizer(prompt))
  length = len(prompt_ids) + 12  # README: "The capital of France is Paris." then <|im_end|>
  token_ids = np.zeros((1, length), np.int32)
  token_ids[0, :len(prompt_ids)] = prompt_ids
  padding_mask = np.arange(length)[None] < len(prompt_ids)
  causal_lm = keras_hub.models.Llama3CausalLM(backbone=smollm2.backbone, preprocessor=None)
  causal_lm.compile(sampler="greedy", jit_compile=False)  # compiling costs more than 12 steps
  output = causal_lm.generate({"token_ids": token_ids, "padding_mask": padding_mask},
                              stop_token_ids=smollm2.special_token_ids.stop_token_ids)
  generated = output["token_ids"][0, len(prompt_ids):][output["padding_mask"][0, len(prompt_ids):]]
  assert generated[-1] == smollm2.special_token_ids.eos, generated
  assert "Paris" in smollm2.tokenizer.detokenize(generated[:-1])

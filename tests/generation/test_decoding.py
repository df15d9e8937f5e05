"""The decoding loop on tiny keras-hub causal LMs: it agrees with keras-hub's own `generate`, a
prompt's tokens do not depend on its batch, stop ids and sampling settings do what they say, and
the exported loop runs in a fresh TF1 session (as TF Serving loads it) without XLA or Python ops."""

import functools

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfsft.generation import DecodingSettings, decode, sampling
from tfsft.generation.export import TOKEN_ID_INPUTS, add_generation_endpoint
from tfsft.generation.stop_strings import truncate_at_stop_strings
from tfsft.serving.servability import PYTHON_CALLBACK_OPS, check_servable

VOCABULARY_SIZE = 64
PROMPTS = ([5, 6, 7, 8, 9], [3, 4], [9, 8, 7, 6, 5, 4, 3])  # different lengths on purpose
NEW_TOKENS = 8
GREEDY = DecodingSettings(max_new_tokens=NEW_TOKENS)


def _tiny_gpt2():
  keras.utils.set_random_seed(1)
  backbone = keras_hub.models.GPT2Backbone(
      vocabulary_size=VOCABULARY_SIZE, num_layers=2, num_heads=2, hidden_dim=8,
      intermediate_dim=16, max_sequence_length=32)
  return keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)


def _tiny_llama3():
  keras.utils.set_random_seed(2)
  # Fewer key/value heads than query heads: the cache holds the grouped heads.
  backbone = keras_hub.models.Llama3Backbone(
      vocabulary_size=VOCABULARY_SIZE, num_layers=2, num_query_heads=4, num_key_value_heads=2,
      hidden_dim=16, intermediate_dim=32)
  return keras_hub.models.Llama3CausalLM(backbone, preprocessor=None)


@pytest.fixture(scope="module", params=["gpt2", "llama3"])
def causal_lm(request):
  return {"gpt2": _tiny_gpt2, "llama3": _tiny_llama3}[request.param]()


@pytest.fixture(scope="module")
def gpt2():
  return _tiny_gpt2()


@functools.lru_cache(maxsize=None)
def _decoder(causal_lm, settings):
  """`decode` traced once per model and settings, as a served graph is (any batch, any length)."""
  return tf.function(lambda ids, mask: decode(causal_lm, ids, mask, settings),
                     input_signature=TOKEN_ID_INPUTS)


def _generate(causal_lm, prompts, settings=GREEDY, left_padded=False):
  """Numpy token_ids and padding_mask [prompts, sequences, new tokens] for lists of ids."""
  outputs = _decoder(causal_lm, settings)(*_padded(prompts, left_padded))
  return outputs["token_ids"].numpy(), outputs["padding_mask"].numpy()


def _padded(prompts, left_padded=False, width=None):
  width = width or max(map(len, prompts))
  token_ids = np.zeros([len(prompts), width], np.int32)
  padding_mask = np.zeros([len(prompts), width], np.int32)
  for row, prompt in enumerate(prompts):
    columns = slice(width - len(prompt), width) if left_padded else slice(0, len(prompt))
    token_ids[row, columns], padding_mask[row, columns] = prompt, 1
  return token_ids, padding_mask


def test_greedy_tokens_equal_keras_hub_generate(causal_lm):
  # keras-hub's generate fills a right-padded buffer in place and returns the whole of it.
  width = max(map(len, PROMPTS)) + NEW_TOKENS
  token_ids, padding_mask = _padded(PROMPTS, width=width)
  causal_lm.compile(sampler="greedy")
  reference = causal_lm.generate({"token_ids": token_ids, "padding_mask": padding_mask > 0},
                                 stop_token_ids=None)["token_ids"]
  expected = [reference[row, len(prompt):len(prompt) + NEW_TOKENS]
              for row, prompt in enumerate(PROMPTS)]
  generated, generated_mask = _generate(causal_lm, PROMPTS)
  np.testing.assert_array_equal(generated[:, 0], expected)
  assert generated_mask.all()


def test_a_prompt_gets_the_same_tokens_alone_as_in_any_batch(causal_lm):
  batched, _ = _generate(causal_lm, PROMPTS)
  left_padded, _ = _generate(causal_lm, PROMPTS, left_padded=True)
  np.testing.assert_array_equal(left_padded, batched)
  for row, prompt in enumerate(PROMPTS):
    alone, _ = _generate(causal_lm, [prompt])
    np.testing.assert_array_equal(alone[0], batched[row], err_msg=f"prompt {prompt}")


def test_the_traced_loop_has_no_xla_or_python_callback_ops(causal_lm):
  graph = _decoder(causal_lm, GREEDY).get_concrete_function().graph.as_graph_def()
  ops = {node.op for node in graph.node}
  ops |= {node.op for function in graph.library.function for node in function.node_def}
  assert "TensorStridedSliceUpdate" in ops  # the cache writes, instead of XlaDynamicUpdateSlice
  assert sorted(op for op in ops if op.startswith("Xla") or op in PYTHON_CALLBACK_OPS) == []


def test_with_jit_compiled_the_loop_compiles_with_xla_and_agrees(causal_lm):
  # For TPUs and XLA on GPUs: keras-hub's own XlaDynamicUpdateSlice writes the cache there.
  compiled = tf.function(lambda ids, mask: decode(causal_lm, ids, mask, GREEDY, jit_compiled=True),
                         jit_compile=True)
  np.testing.assert_array_equal(compiled(*_padded(PROMPTS))["token_ids"],
                                _generate(causal_lm, PROMPTS)[0])


def test_a_row_stops_at_its_first_stop_id_and_the_rest_is_padding(gpt2):
  unstopped, _ = _generate(gpt2, PROMPTS)
  # One id the first row generates, and one that only occurs in a prompt (prompts never stop).
  stop_ids = (int(unstopped[0, 0, 2]), PROMPTS[2][0])
  settings = DecodingSettings(max_new_tokens=NEW_TOKENS, stop_token_ids=stop_ids,
                              pad_token_id=-1)
  stopped, stopped_mask = _generate(gpt2, PROMPTS, settings)
  for row, tokens in enumerate(unstopped[:, 0]):
    stops = [step for step, token in enumerate(tokens) if token in stop_ids]
    kept = stops[0] + 1 if stops else NEW_TOKENS  # the stop token itself is kept
    assert stopped_mask[row, 0].tolist() == [True] * kept + [False] * (NEW_TOKENS - kept)
    assert stopped[row, 0].tolist() == tokens[:kept].tolist() + [-1] * (NEW_TOKENS - kept)
  assert not stopped_mask[0, 0, 3:].any()


def test_sampling_is_reproducible_per_seed(gpt2):
  settings = DecodingSettings(max_new_tokens=NEW_TOKENS, do_sample=True, seed=11)
  first, _ = _generate(gpt2, PROMPTS, settings)
  again, _ = _generate(gpt2, PROMPTS, settings)
  other_seed, _ = _generate(gpt2, PROMPTS, DecodingSettings(
      max_new_tokens=NEW_TOKENS, do_sample=True, seed=12))
  np.testing.assert_array_equal(first, again)
  assert (first != other_seed).any()
  # A seed tensor (a serving input, say) stands in for settings.seed.
  overridden = decode(gpt2, *_padded(PROMPTS), DecodingSettings(
      max_new_tokens=NEW_TOKENS, do_sample=True, seed=0), seed=tf.constant(11))
  np.testing.assert_array_equal(overridden["token_ids"], first)


def test_top_k_1_and_a_tiny_top_p_are_greedy(gpt2):
  greedy, _ = _generate(gpt2, PROMPTS)
  for narrow in (dict(top_k=1), dict(top_p=1e-6)):
    settings = DecodingSettings(max_new_tokens=NEW_TOKENS, do_sample=True, seed=5, **narrow)
    sampled, _ = _generate(gpt2, PROMPTS, settings)
    np.testing.assert_array_equal(sampled, greedy, err_msg=str(narrow))


def test_return_sequences_are_separate_draws_per_prompt(gpt2):
  settings = DecodingSettings(max_new_tokens=NEW_TOKENS, do_sample=True, seed=3,
                              num_return_sequences=3)
  sampled, sampled_mask = _generate(gpt2, PROMPTS, settings)
  assert sampled.shape == sampled_mask.shape == (len(PROMPTS), 3, NEW_TOKENS)
  for draws in sampled:
    assert len({tuple(draw) for draw in draws}) == 3


def test_temperature_reshapes_the_distribution_it_samples_from():
  logits = np.log([0.6, 0.25, 0.1, 0.05])
  rows = 20000
  for temperature in (0.5, 2.0):
    settings = DecodingSettings(do_sample=True, temperature=temperature)
    tokens = sampling.next_tokens(tf.constant(np.tile(logits, [rows, 1]), tf.float32), settings,
                                  seed=tf.constant([1, 2]))
    frequencies = np.bincount(tokens.numpy(), minlength=4) / rows
    expected = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
    np.testing.assert_allclose(frequencies, expected, atol=0.015, err_msg=f"T={temperature}")


def test_top_k_and_top_p_keep_the_most_likely_tokens():
  logits = tf.constant([np.log([0.05, 0.5, 0.15, 0.3])], tf.float32)
  kept = lambda processed: np.flatnonzero(processed.numpy()[0] > np.finfo(np.float32).min).tolist()
  assert kept(sampling.keep_top_k(logits, 2)) == [1, 3]
  assert kept(sampling.keep_top_k(logits, 10)) == [0, 1, 2, 3]
  assert kept(sampling.keep_top_p(logits, 0.5)) == [1]  # the top token alone reaches 0.5
  assert kept(sampling.keep_top_p(logits, 0.7)) == [1, 3]
  assert kept(sampling.keep_top_p(logits, 0.81)) == [1, 2, 3]


@pytest.mark.parametrize("settings, problem", [
    (dict(top_k=5), "only apply with do_sample=True"),
    (dict(num_return_sequences=2), "needs do_sample=True"),
    (dict(do_sample=True, temperature=0.0), "temperature must be above 0"),
    (dict(do_sample=True, top_p=0.0), "top_p must be in (0, 1]"),
    (dict(max_new_tokens=0), "max_new_tokens must be at least 1"),
])
def test_settings_that_cannot_work_are_refused(settings, problem):
  with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace("]", r"\]")):
    DecodingSettings(**settings)


def test_stop_strings_cut_the_text_at_the_first_one():
  texts = tf.constant(["An answer.\n\nUser: more", "a ### b ### c", "no stop", "a+b?"])
  cut = truncate_at_stop_strings(texts, ["\n\nUser:", "###", "+b?"])
  assert cut.numpy().tolist() == [b"An answer.", b"a ", b"no stop", b"a"]


def _digits_tokenizer(text):
  """Prompts written as ids ("5 6 7"): the servability check feeds a `tokenize` signature's
  outputs to the token-id signatures, and this keeps that harness free of any vocabulary."""
  token_ids = tf.strings.to_number(tf.strings.split(text), tf.int32)
  return {"token_ids": token_ids.to_tensor(),
          "padding_mask": tf.ones_like(token_ids).to_tensor()}


def test_exported_sampler_runs_in_a_fresh_tf1_session_without_xla_or_python_ops(tmp_path):
  causal_lm = _tiny_llama3()
  # Sampling with every processor, stop ids and several sequences: the most ops a graph can hold.
  settings = DecodingSettings(max_new_tokens=NEW_TOKENS, do_sample=True, temperature=0.8,
                              top_k=20, top_p=0.9, seed=7, stop_token_ids=(1, 2),
                              num_return_sequences=2)
  archive = keras.export.ExportArchive()
  add_generation_endpoint(archive, causal_lm, settings)
  archive.add_endpoint("tokenize", _digits_tokenizer,
                       input_signature=[tf.TensorSpec([None], tf.string, name="text")])
  archive.write_out(str(tmp_path / "1"), verbose=False)

  report = check_servable(str(tmp_path / "1"), {"text": [" ".join(map(str, p)) for p in PROMPTS]})
  assert report["problems"] == []
  assert [op for op in report["ops"] if op.startswith("Xla") or op in PYTHON_CALLBACK_OPS] == []
  in_python = decode(causal_lm, *_padded(PROMPTS), settings)
  served = report["signatures"]["serving_default"]
  assert served["token_ids"] == in_python["token_ids"].numpy().tolist()
  assert served["padding_mask"] == in_python["padding_mask"].numpy().tolist()


"""Per-request decoding settings (the `generate` signature's scalar inputs) choose tokens as the
export's fixed settings do: temperature 0 is greedy, top_k / top_p cut the same tokens."""

import numpy as np
import tensorflow as tf

from tfsft.generation.sampling import keep_top_k, keep_top_p, next_tokens
from tfsft.generation.settings import RequestSettings
from tfsft.metrics.generation import generation_scores

LOGITS = tf.constant(np.random.default_rng(0).normal(size=[6, 50]), tf.float32)
SEED = tf.constant([3, 4])


def request(temperature, top_k=0, top_p=1.0):
  return RequestSettings(max_new_tokens=tf.constant(4), temperature=tf.constant(temperature),
                         top_k=tf.constant(top_k), top_p=tf.constant(top_p))


def test_temperature_zero_and_a_single_kept_token_are_greedy():
  greedy = tf.argmax(LOGITS, axis=-1, output_type=tf.int32).numpy()
  assert next_tokens(LOGITS, request(0.0), SEED).numpy().tolist() == greedy.tolist()
  assert next_tokens(LOGITS, request(1.0, top_k=1), SEED).numpy().tolist() == greedy.tolist()
  assert next_tokens(LOGITS, request(1.0, top_p=1e-6), SEED).numpy().tolist() == greedy.tolist()


def test_sampled_tokens_stay_inside_the_static_cuts():
  allowed_k = keep_top_k(LOGITS, 5).numpy() > LOGITS.dtype.min
  allowed_p = keep_top_p(LOGITS, 0.5).numpy() > LOGITS.dtype.min
  for seed in range(20):
    seed = tf.constant([seed, 0])
    by_k = next_tokens(LOGITS, request(1.0, top_k=5), seed).numpy()
    by_p = next_tokens(LOGITS, request(1.0, top_p=0.5), seed).numpy()
    assert all(allowed_k[row, token] for row, token in enumerate(by_k))
    assert all(allowed_p[row, token] for row, token in enumerate(by_p))
  assert next_tokens(LOGITS, request(0.8), SEED).numpy().tolist() == next_tokens(
      LOGITS, request(0.8), SEED).numpy().tolist()  # a seed reproduces its draw


def test_generation_scores_follow_their_reference_implementations():
  scores = generation_scores(["le chat est noir", "bonjour"], ["le chat est noir", "salut"])
  assert scores["exact_match"] == 50.0
  assert 0 < scores["bleu"] < 100 and 0 < scores["rouge_l"] < 100
  assert generation_scores(["a b"], ["a b"])["rouge_l"] == 100.0

"""Loading BERT from a Hugging Face directory tokenizes as Hugging Face does."""

import tensorflow as tf

from conftest import shared_path
from tfsft.config import ModelConfig
from tfsft.models import bert


def test_an_uncased_hugging_face_vocabulary_strips_accents():
  # Hugging Face lower-cases *and* strips accents for do_lower_case checkpoints; keras-hub alone
  # keeps the accents, and the uncased vocabulary then has no "josé": [UNK].
  minilm = shared_path("TFSFT_TEST_MODELS", "all-MiniLM-L6-v2")
  encoder = bert.build(ModelConfig(init_checkpoint=minilm, max_seq_length=16))
  tokenize = tf.function(lambda text: encoder.preprocess(text)["token_ids"])
  accented, plain = tokenize(tf.constant(["José drank a café crème", "jose drank a cafe creme"]))
  assert accented.numpy().tolist() == plain.numpy().tolist()
  assert 100 not in accented.numpy().tolist()  # [UNK]

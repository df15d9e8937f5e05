"""A token-ids-in, token-ids-out generation endpoint on a `keras.export.ExportArchive`.

The archive, not the endpoint, tracks the model's variables: `add_endpoint` finds the
tf.Variables the traced loop captures and saves each once (tracking the Keras model as well
would save its weights a second time, keras-team/keras#23553): the exported variables are the
model's size. For string in, string out, call `decode` between a tokenizer and
`strip_to_ragged` + `detokenize` held by the archive (GUIDE.md lists the special-token traps).
"""

import keras
import tensorflow as tf

from tfsft.generation.decoding import decode
from tfsft.generation.settings import DecodingSettings

TOKEN_ID_INPUTS = [tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                   tf.TensorSpec([None, None], tf.int32, name="padding_mask")]


def add_generation_endpoint(archive: keras.export.ExportArchive, causal_lm,
                            settings: DecodingSettings, name: str = "serving_default"):
  """Adds `name`: token_ids, padding_mask (int32 [batch, prompt_length], 1 = prompt token) ->
  token_ids (int32) and padding_mask (bool), [batch, num_return_sequences, max_new_tokens]."""

  def generate_token_ids(token_ids, padding_mask):
    return decode(causal_lm, token_ids, padding_mask, settings)

  archive.add_endpoint(name, generate_token_ids, input_signature=TOKEN_ID_INPUTS)

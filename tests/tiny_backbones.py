"""Tiny random keras-hub backbones of every transformer family tfsft fine-tunes (BERT, GPT-2,
Llama 3, Qwen, Mistral, Gemma), with inputs for them, for the PEFT tests."""

import keras_hub
import numpy as np

import tiny_causal_lms

VOCABULARY = 300


def tiny_bert():
  return keras_hub.models.BertBackbone(vocabulary_size=VOCABULARY, num_layers=2, num_heads=2,
                                       hidden_dim=16, intermediate_dim=32, max_sequence_length=32)


BACKBONES = {
    "bert": tiny_bert,
    **{name: (lambda build=getattr(tiny_causal_lms, f"{name}_backbone"):
              tiny_causal_lms.randomized(build(VOCABULARY)))
       for name in ("gpt2", "llama3", "qwen", "mistral", "gemma")},
}


def features(backbone):
  rng = np.random.default_rng(0)
  token_ids = rng.integers(1, VOCABULARY, size=(2, 7)).astype("int32")
  inputs = {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}
  if "segment_ids" in {tensor.name for tensor in backbone.inputs}:
    inputs["segment_ids"] = np.zeros_like(token_ids)
  return inputs


def output_of(backbone, inputs):
  outputs = backbone(inputs)
  return np.asarray(outputs["sequence_output"] if isinstance(outputs, dict) else outputs)


def move_updates(injected, seed=1):
  """Training's effect, without training: random values in every trainable weight."""
  rng = np.random.default_rng(seed)
  for _, _, wrapper in injected.wrappers:
    for variable in wrapper.trainable_weights:
      variable.assign(rng.normal(0, 0.1, variable.shape).astype(variable.dtype))

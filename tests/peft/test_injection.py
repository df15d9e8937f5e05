"""LoRA and bottleneck adapters in tiny keras-hub backbones of every transformer family: they start
as the identity, only they train, and a merged LoRA model computes what the wrapped one did."""

import keras
import numpy as np
import pytest

from tfsft.config import PeftConfig
from tfsft.errors import UserError
from tfsft.peft import injection
from tfsft.peft.layers import LoraProjection
from tiny_backbones import BACKBONES, features, move_updates, output_of, tiny_bert

@pytest.mark.parametrize("family", sorted(BACKBONES))
@pytest.mark.parametrize("method", ["lora", "adapter"])
def test_wrapped_backbone_starts_as_the_base_and_trains_only_the_wrappers(family, method):
  backbone = BACKBONES[family]()
  inputs = features(backbone)
  before = output_of(backbone, inputs)
  config = PeftConfig(peft=method, lora_targets="query,key,value,attention_output,feedforward_up")
  injected = injection.inject(backbone, config)
  np.testing.assert_allclose(output_of(backbone, inputs), before, atol=1e-6)
  expected = 5 * 2 if method == "lora" else 2 * 2  # per layer: 5 targets, or 2 adapter places
  assert len(injected.wrappers) == expected
  wrapper_weights = {id(v) for _, _, w in injected.wrappers for v in w.trainable_weights}
  assert {id(v) for v in backbone.trainable_weights} == wrapper_weights
  move_updates(injected)
  assert not np.allclose(output_of(backbone, inputs), before, atol=1e-3)


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_merged_lora_computes_what_the_wrapped_model_did_with_the_original_layers(family):
  backbone = BACKBONES[family]()
  inputs = features(backbone)
  config = PeftConfig(peft="lora", lora_rank=4, lora_targets="q_proj,v_proj,o_proj,down_proj",
                      lora_dropout=0.0)
  injected = injection.inject(backbone, config)
  move_updates(injected)
  wrapped = output_of(backbone, inputs)
  layer_count = len(backbone._flatten_layers())
  assert injection.merge(injected) == 8
  assert not any(isinstance(layer, LoraProjection) for layer in backbone._flatten_layers())
  assert len(backbone._flatten_layers()) == layer_count - 8  # the wrappers (no dropout layer)
  np.testing.assert_allclose(output_of(backbone, inputs), wrapped, atol=1e-5)


@pytest.mark.parametrize("method", ["lora", "adapter"])
def test_fit_moves_the_wrappers_and_the_head_and_no_frozen_weight(method):
  backbone = tiny_bert()
  injected = injection.inject(backbone, PeftConfig(peft=method, lora_dropout=0.1))
  inputs = {name: keras.Input((None,), dtype="int32", name=name)
            for name in ("token_ids", "padding_mask", "segment_ids")}
  head = keras.layers.Dense(2, name="logits")
  model = keras.Model(inputs, head(backbone(inputs)["pooled_output"]))
  model.compile(keras.optimizers.AdamW(1e-2),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  frozen = {variable.path: variable.numpy() for variable in backbone.non_trainable_weights}
  moving = injected.wrappers[0][2].trainable_weights[-1]  # LoRA's B, the adapter's up
  start = moving.numpy()
  data = features(backbone)
  model.fit(data, np.array([0, 1]), epochs=3, verbose=0)
  assert {id(v) for v in model.trainable_weights} == {
      id(v) for v in backbone.trainable_weights + head.trainable_weights}
  for variable in backbone.non_trainable_weights:
    np.testing.assert_array_equal(variable.numpy(), frozen[variable.path])
  assert not np.allclose(moving.numpy(), start)


def test_scaling_follows_alpha_over_rank_or_its_square_root():
  assert injection.lora_scale(PeftConfig(peft="lora", lora_rank=16, lora_alpha=32)) == 2.0
  assert injection.lora_scale(PeftConfig(peft="lora", lora_rank=16, lora_alpha=32,
                                         lora_rslora=True)) == 8.0


def test_an_unknown_target_is_refused_with_the_valid_names():
  with pytest.raises(UserError, match="choose from query, key, value, attention_output"):
    injection.inject(tiny_bert(), PeftConfig(peft="lora", lora_targets="query,c_attn"))

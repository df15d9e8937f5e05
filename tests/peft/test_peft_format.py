"""LoRA adapters in Hugging Face PEFT's format: the names and shapes real PEFT files have
(tests/peft/fixtures), and a round trip that gives back the model that wrote them."""

import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from tfsft.config import PeftConfig
from tfsft.peft import hugging_face, injection
from tiny_backbones import BACKBONES, features, move_updates, output_of

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# The keys PEFT 0.13 writes (and refuses to go beyond); later versions only add keys.
PEFT_0_13_KEYS = set(
    "alpha_pattern auto_mapping base_model_name_or_path bias fan_in_fan_out inference_mode "
    "init_lora_weights layer_replication layers_pattern layers_to_transform loftq_config "
    "lora_alpha lora_dropout megatron_config megatron_core modules_to_save peft_type r "
    "rank_pattern revision target_modules task_type use_dora use_rslora".split())


def fixture(name):
  with open(os.path.join(FIXTURES, name)) as handle:
    return json.load(handle)


def real_names(header, layers=2):
  """The fixture's LoRA tensor names of the first `layers` transformer layers."""
  return {name for name in fixture(header)["tensors"] if ".lora_" in name and any(
      f".{index}." in name for index in range(layers))}


def written(tmp_path, family, targets, rank=4, **settings):
  keras.utils.set_random_seed(0)
  backbone = BACKBONES[family]()
  config = PeftConfig(peft="lora", lora_rank=rank, lora_targets=targets, lora_dropout=0.0,
                      **settings)
  injected = injection.inject(backbone, config)
  move_updates(injected)
  directory = hugging_face.write_adapters(str(tmp_path / family), backbone, backbone, injected,
                                          config, base_model=f"tiny-{family}")
  return backbone, load_file(os.path.join(directory, hugging_face.WEIGHTS_FILE)), directory


@pytest.mark.parametrize("family, targets, header", [
    ("bert", "query,value", "bert_seqcls_peft0.16.safetensors_header.json"),
    ("gpt2", "query,key,value,attention_output,feedforward_down",
     "gpt2_causallm_peft0.17.1.safetensors_header.json"),
])
def test_tensor_names_are_those_of_real_peft_files(tmp_path, family, targets, header):
  _, tensors, directory = written(tmp_path, family, targets)
  assert set(tensors) == real_names(header)
  config = fixture(header.replace("safetensors_header", "adapter_config"))
  ours = json.load(open(os.path.join(directory, hugging_face.CONFIG_FILE)))
  assert set(ours) == PEFT_0_13_KEYS and PEFT_0_13_KEYS <= set(config)
  assert sorted(ours["target_modules"]) == sorted(config["target_modules"])


def test_llama_family_names_and_orientation_match_a_real_llama_adapter(tmp_path):
  every = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
  for family in ("llama3", "qwen", "mistral", "gemma"):
    backbone, tensors, _ = written(tmp_path, family, every)
    real = fixture("llama2_7b_layer0_peft.safetensors_header.json")["tensors"]
    assert set(real) == {name for name in tensors if ".layers.0." in name}
    for name, spec in real.items():
      # A is [r, in] and B [out, r]: the real rank (64) where ours is 4, the sides as ours.
      rank_axis = 0 if ".lora_A." in name else 1
      assert tensors[name].shape[rank_axis] == 4 and spec["shape"][rank_axis] == 64
  query = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
  assert query.shape == (backbone.num_query_heads * backbone.head_dim, 4)  # Gemma: heads x 8


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_adapters_read_back_into_a_fresh_base_compute_what_wrote_them(tmp_path, family):
  targets = "query,value,attention_output,feedforward_up,feedforward_down"
  trained, _, directory = written(tmp_path, family, targets, lora_alpha=12.0, lora_rslora=True)
  inputs = features(trained)
  keras.utils.set_random_seed(0)
  fresh = BACKBONES[family]()
  config, updates = hugging_face.read_adapters(directory, fresh)
  injected = injection.inject(fresh, config)
  assert hugging_face.load_into(injected, fresh, updates) == len(injected.wrappers)
  np.testing.assert_allclose(output_of(fresh, inputs), output_of(trained, inputs), atol=1e-5)

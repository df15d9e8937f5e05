"""Puts LoRA or bottleneck adapters into a keras-hub backbone, freezes everything else, and takes
them out again (merged) for serving.

Targets are named by role, the same for every transformer family; each role is the keras-hub
layer name(s) that play it (Gemma names its feed-forward layers its own way). Hugging Face's
module names (q_proj, v_proj, ...) are accepted too, as PEFT users write them.

The wrappers replace the projections in their parent layers, so keras-hub's own call code (the
forward pass, the KV-cache decoding loop) runs through them unchanged.
"""

import dataclasses
from typing import Dict, List, Tuple

import keras
import numpy as np

from tfsft.config import PeftConfig
from tfsft.errors import UserError
from tfsft.peft.layers import BottleneckAdapter, LoraProjection

# role -> keras-hub layer names (BERT, GPT-2, Llama, Mistral, Qwen | Gemma)
ROLES = {
    "query": ("query",),
    "key": ("key",),
    "value": ("value",),
    "attention_output": ("attention_output",),
    "feedforward_gate": ("feedforward_gate_dense", "ffw_gating"),
    "feedforward_up": ("feedforward_intermediate_dense", "ffw_gating_2"),
    "feedforward_down": ("feedforward_output_dense", "ffw_linear"),
}
HUGGING_FACE_NAMES = {"q_proj": "query", "k_proj": "key", "v_proj": "value",
                      "o_proj": "attention_output", "gate_proj": "feedforward_gate",
                      "up_proj": "feedforward_up", "down_proj": "feedforward_down"}
DEFAULT_LORA_TARGETS = ("query", "value")  # PEFT's default for BERT and the Llama family
# Houlsby's placement: after the attention block's and the feed-forward block's output projection.
ADAPTER_TARGETS = ("attention_output", "feedforward_down")


@dataclasses.dataclass
class Injected:
  """Where the wrappers went: (parent layer, attribute, wrapper) per projection, in model order."""
  method: str
  wrappers: List[Tuple[keras.layers.Layer, str, keras.layers.Layer]]

  @property
  def roles(self) -> List[str]:
    return sorted({role_of(wrapper.base.name) for _, _, wrapper in self.wrappers})


def role_of(layer_name: str) -> str:
  return next(role for role, names in ROLES.items() if layer_name in names)


def lora_targets(config: PeftConfig, default=DEFAULT_LORA_TARGETS) -> Tuple[str, ...]:
  """--lora_targets as roles (comma-separated roles or Hugging Face names; unset: `default`, the
  model family's)."""
  if not config.lora_targets:
    return tuple(default)
  roles = []
  for name in (part.strip() for part in config.lora_targets.split(",")):
    role = HUGGING_FACE_NAMES.get(name, name)
    if role not in ROLES:
      raise UserError(f"--lora_targets names '{name}', which is no projection tfsft knows: choose "
                      f"from {', '.join(ROLES)} (or {', '.join(HUGGING_FACE_NAMES)})")
    roles.append(role)
  return tuple(dict.fromkeys(roles))


def lora_scale(config: PeftConfig) -> float:
  """alpha / r, or alpha / sqrt(r) with --lora_rslora (Kalajdzievski, 2023)."""
  return config.lora_alpha / (config.lora_rank ** 0.5 if config.lora_rslora else config.lora_rank)


def inject(backbone: keras.Model, config: PeftConfig,
           default_targets=DEFAULT_LORA_TARGETS) -> Injected:
  """Freezes every weight of `backbone` and wraps the target projections; only the wrappers'
  weights train (the task head lives outside the backbone and stays trainable)."""
  for variable in backbone.weights:
    variable.trainable = False
  roles = lora_targets(config, default_targets) if config.peft == "lora" else ADAPTER_TARGETS
  wanted = {name for role in roles for name in ROLES[role]}
  wrappers = []
  for parent, attribute, layer in _projections(backbone):
    if layer.name not in wanted:
      continue
    if config.peft == "lora":
      wrapper = LoraProjection(layer, config.lora_rank, lora_scale(config), config.lora_dropout)
    else:
      wrapper = BottleneckAdapter(layer, config.adapter_size)
    _replace(parent, attribute, layer, wrapper)
    wrappers.append((parent, attribute, wrapper))
  if not wrappers:
    raise UserError(f"--peft={config.peft}: {type(backbone).__name__} has no {', '.join(roles)} "
                    "projections: choose other --lora_targets")
  return Injected(config.peft, wrappers)


def merge(injected: Injected) -> int:
  """Folds each LoRA update into its base kernel and puts the base layer back: the model then has
  exactly the layers and weights of a fully fine-tuned one. Adapters stay (they are nonlinear).
  Returns how many projections were merged."""
  if injected.method != "lora":
    return 0
  for parent, attribute, wrapper in injected.wrappers:
    wrapper.base.kernel.assign(wrapper.merged_kernel())
    _replace(parent, attribute, wrapper, wrapper.base)
  merged = len(injected.wrappers)
  injected.wrappers = []
  return merged


def parameter_counts(model: keras.Model) -> Dict[str, int]:
  trainable = sum(int(np.prod(variable.shape)) for variable in model.trainable_weights)
  total = trainable + sum(int(np.prod(variable.shape)) for variable in model.non_trainable_weights)
  return {"trainable_parameters": trainable, "total_parameters": total}


def _projections(backbone):
  """(parent, attribute, layer) for every Dense / EinsumDense held as a layer's attribute, listed
  before any is wrapped (a wrapper's own `base` is not a target)."""
  parents = [layer for layer in backbone._flatten_layers(include_self=True)  # pylint: disable=protected-access
             if not isinstance(layer, (LoraProjection, BottleneckAdapter))]
  for parent in parents:
    for attribute, value in list(vars(parent).items()):
      if isinstance(value, (keras.layers.Dense, keras.layers.EinsumDense)):
        yield parent, attribute, value


def _replace(parent, attribute: str, old, new):
  # Keras locks a built layer's tracker against new sublayers; swapping one tracked layer for
  # another keeps `parent.weights` and the checkpoint graph pointing at the live one.
  parent._tracker.replace_tracked_value("layers", old, new)  # pylint: disable=protected-access
  setattr(parent, attribute, new)

"""LoRA adapters in Hugging Face PEFT's format: `adapter_config.json` + `adapter_model.safetensors`,
tensors named as PEFT names them for the Transformers model of the same architecture, so adapters
trained here load with `PeftModel.from_pretrained` and PEFT adapters load here.

  base_model.model.<module>.lora_A.weight   [r, in_features]   (A, transposed and flattened)
  base_model.model.<module>.lora_B.weight   [out_features, r]  (B, transposed and flattened)
  base_model.model.classifier.weight        a task head (PEFT's modules_to_save), [labels, hidden]

Flattening keeps the keras kernel's dimension order (heads before head_dim), which is the order of
Transformers' projection rows. GPT-2 fuses query, key and value into one `c_attn` projection: its
LoRA is written as one update of rank (targets x r) whose B is block-diagonal, which is exactly the
three separate updates, and read back as three updates sharing A.

The config holds the 24 keys PEFT 0.13 writes (0.13 refuses keys it does not know; later versions
accept these and default the rest).
"""

import json
import math
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
from absl import logging

from tfsft.config import PeftConfig
from tfsft.errors import UserError
from tfsft.peft import injection

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."

_LLAMA_STYLE = {"query": "self_attn.q_proj", "key": "self_attn.k_proj", "value": "self_attn.v_proj",
                "attention_output": "self_attn.o_proj", "feedforward_gate": "mlp.gate_proj",
                "feedforward_up": "mlp.up_proj", "feedforward_down": "mlp.down_proj"}
# keras-hub backbone class -> (Transformers model_type, layer path, role -> module under the layer)
ARCHITECTURES = {
    "BertBackbone": ("bert", "bert.encoder.layer.{}.", {
        "query": "attention.self.query", "key": "attention.self.key",
        "value": "attention.self.value", "attention_output": "attention.output.dense",
        "feedforward_up": "intermediate.dense", "feedforward_down": "output.dense"}),
    "GPT2Backbone": ("gpt2", "transformer.h.{}.", {
        "query": "attn.c_attn", "key": "attn.c_attn", "value": "attn.c_attn",
        "attention_output": "attn.c_proj", "feedforward_up": "mlp.c_fc",
        "feedforward_down": "mlp.c_proj"}),
    "LlamaBackbone": ("llama", "model.layers.{}.", _LLAMA_STYLE),
    "Llama3Backbone": ("llama", "model.layers.{}.", _LLAMA_STYLE),
    "MistralBackbone": ("mistral", "model.layers.{}.", _LLAMA_STYLE),
    "QwenBackbone": ("qwen2", "model.layers.{}.", _LLAMA_STYLE),
    "GemmaBackbone": ("gemma", "model.layers.{}.", _LLAMA_STYLE),
}
_FUSED = ("query", "key", "value")  # GPT-2's c_attn, in the order of its output columns
_FUSED_MODULE = ".attn.c_attn"
# tfsft head layer -> (PEFT task_type, Transformers module); causal LMs have no head of their own.
HEADS = {"logits": ("SEQ_CLS", "classifier"), "score": ("SEQ_CLS", "classifier"),
         "tag_logits": ("TOKEN_CLS", "classifier"), "span_logits": ("QUESTION_ANS", "qa_outputs")}


def _architecture(backbone):
  name = type(backbone).__name__
  if name not in ARCHITECTURES:
    raise UserError(f"PEFT's format has no names for {name} in tfsft: export the merged model "
                    f"instead (known: {', '.join(sorted(ARCHITECTURES))})")
  return ARCHITECTURES[name]


def _layer_of(backbone, wrapper) -> int:
  for index, layer in enumerate(backbone.transformer_layers):
    if any(sublayer is wrapper for sublayer in layer._flatten_layers()):  # pylint: disable=protected-access
      return index
  raise ValueError(f"{wrapper.name} is in no transformer layer of {backbone.name}")


def _as_matrices(wrapper) -> Tuple[np.ndarray, np.ndarray]:
  """(A [r, in], B [out, r]) in PyTorch's layout, the update's scale not applied."""
  a = np.asarray(wrapper.lora_a, np.float32)
  b = np.asarray(wrapper.lora_b, np.float32)
  return a.reshape(-1, wrapper.rank).T, b.reshape(wrapper.rank, -1).T


def adapter_tensors(backbone, injected: injection.Injected, config: PeftConfig):
  """(tensors by PEFT name, rank_pattern, alpha_pattern, target module names)."""
  if injected.method != "lora":
    raise UserError("PEFT's format holds LoRA adapters; --peft=adapter runs export as a "
                    "SavedModel (their adapters cannot be merged or named for Transformers)")
  _, layer_path, modules = _architecture(backbone)
  by_module: Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]] = {}
  for _, _, wrapper in injected.wrappers:
    role = injection.role_of(wrapper.base.name)
    module = layer_path.format(_layer_of(backbone, wrapper)) + modules[role]
    by_module.setdefault(module, {})[role] = _as_matrices(wrapper)
  tensors, rank_pattern, alpha_pattern = {}, {}, {}
  for module, by_role in by_module.items():
    if module.endswith(_FUSED_MODULE):
      a, b = _fused(backbone, by_role)
      fused_rank = a.shape[0]
      # PEFT scales this module by its own alpha / rank: keep the scale of the separate updates.
      ratio = fused_rank / config.lora_rank
      rank_pattern[module] = fused_rank
      alpha_pattern[module] = config.lora_alpha * (math.sqrt(ratio) if config.lora_rslora else ratio)
    else:
      ((a, b),) = by_role.values()
    tensors[f"{PREFIX}{module}.lora_A.weight"] = np.ascontiguousarray(a)
    tensors[f"{PREFIX}{module}.lora_B.weight"] = np.ascontiguousarray(b)
  targets = sorted({modules[injection.role_of(w.base.name)] for _, _, w in injected.wrappers})
  return tensors, rank_pattern, alpha_pattern, _target_modules(layer_path, modules, targets)


def _fused(backbone, by_role):
  """One c_attn update from GPT-2's separate query / key / value updates: A stacked, B
  block-diagonal (zero columns for a projection without LoRA)."""
  hidden = backbone.hidden_dim
  present = [role for role in _FUSED if role in by_role]
  a = np.concatenate([by_role[role][0] for role in present], axis=0)
  b = np.zeros((len(_FUSED) * hidden, a.shape[0]), np.float32)
  column = 0
  for role in present:
    block = by_role[role][1]
    row = _FUSED.index(role) * hidden
    b[row:row + hidden, column:column + block.shape[1]] = block
    column += block.shape[1]
  return a, b


def _target_modules(layer_path: str, modules: dict, targets: List[str]):
  """PEFT's target_modules: names that PEFT matches as a suffix after a dot (the leaf name, when
  every module with that leaf is a target), or a regular expression of the exact modules when
  a suffix would also catch another module."""
  others = set(modules.values()) - set(targets)
  if any(other.endswith("." + target) for other in others for target in targets):
    layer = re.escape(layer_path).replace(r"\{\}", r"\d+")
    return f".*{layer}(?:{'|'.join(re.escape(target) for target in targets)})"
  leaf = lambda module: module.split(".")[-1]
  return sorted({leaf(target) if all(leaf(other) != leaf(target) for other in others) else target
                 for target in targets})


def write_adapters(directory: str, model, backbone, injected: injection.Injected,
                   config: PeftConfig, base_model: str) -> str:
  """Writes the run's LoRA updates (and its task head, as modules_to_save) as a PEFT adapter."""
  from safetensors.numpy import save_file
  tensors, rank_pattern, alpha_pattern, target_modules = adapter_tensors(backbone, injected, config)
  task_type, heads = "CAUSAL_LM", None
  for layer in model.layers:
    if layer.name in HEADS:
      task_type, module = HEADS[layer.name]
      heads = [module]
      tensors[f"{PREFIX}{module}.weight"] = np.ascontiguousarray(np.asarray(layer.kernel).T)
      tensors[f"{PREFIX}{module}.bias"] = np.asarray(layer.bias)
  os.makedirs(directory, exist_ok=True)
  save_file(tensors, os.path.join(directory, WEIGHTS_FILE), metadata={"format": "pt"})
  peft_config = {
      "alpha_pattern": alpha_pattern, "auto_mapping": None, "base_model_name_or_path": base_model,
      "bias": "none", "fan_in_fan_out": _architecture(backbone)[0] == "gpt2",
      "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
      "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
      "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout,
      "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": heads,
      "peft_type": "LORA", "r": config.lora_rank, "rank_pattern": rank_pattern, "revision": None,
      "target_modules": target_modules, "task_type": task_type, "use_dora": False,
      "use_rslora": config.lora_rslora}
  with open(os.path.join(directory, CONFIG_FILE), "w") as handle:
    json.dump(peft_config, handle, indent=2, sort_keys=True)
  return directory


def read_adapters(directory: str, backbone) -> Tuple[PeftConfig, Dict[Tuple[int, str], tuple]]:
  """A PEFT LoRA adapter as (the PeftConfig that recreates its wrappers, {(layer, role): (A, B)}
  as keras-shaped arrays with each module's PEFT scale folded into B relative to that config's)."""
  from safetensors.numpy import load_file
  config_path, weights_path = (os.path.join(directory, name) for name in (CONFIG_FILE, WEIGHTS_FILE))
  for path in (config_path, weights_path):
    if not os.path.isfile(path):
      raise UserError(f"{directory} has no {os.path.basename(path)}: pass a PEFT adapter directory "
                      "(PeftModel.save_pretrained or tfsft.export --format=peft)")
  with open(config_path) as handle:
    settings = json.load(handle)
  if settings.get("peft_type") != "LORA" or settings.get("use_dora"):
    raise UserError(f"{config_path} is a {settings.get('peft_type')} adapter"
                    f"{' with DoRA' if settings.get('use_dora') else ''}: tfsft reads plain LoRA")
  _, layer_path, modules = _architecture(backbone)
  located, matrices = {}, {}
  for name, array in load_file(weights_path).items():
    if ".lora_" not in name:
      continue  # a head (modules_to_save): the task builds its own
    module, factor = name[len(PREFIX):].rsplit(".lora_", 1)
    located[module] = _locate(module, layer_path, modules)
    if located[module] is None:
      raise UserError(f"{weights_path} has LoRA for {module}, which {type(backbone).__name__} has "
                      "no projection for: is the adapter for another architecture?")
    matrices.setdefault(module, {})[factor[0]] = array.astype(np.float32)
  rank = max(pair["A"].shape[0] for pair in matrices.values())
  config = PeftConfig(peft="lora", lora_rank=rank, lora_alpha=float(settings.get("lora_alpha", 8)),
                      lora_rslora=bool(settings.get("use_rslora", False)), lora_dropout=0.0,
                      lora_targets=",".join(sorted({role for module in matrices
                                                    for role in located[module][1]})))
  ours = injection.lora_scale(config)
  updates = {}
  for module, pair in matrices.items():
    layer, roles = located[module]
    module_rank = pair["A"].shape[0]
    theirs = _scale(settings, module, module_rank)
    for role in roles:
      b = pair["B"]
      if len(roles) > 1:  # GPT-2's c_attn: each projection's rows of B, A shared
        start = _FUSED.index(role) * backbone.hidden_dim
        b = b[start:start + backbone.hidden_dim]
      padded_a = np.zeros((rank, pair["A"].shape[1]), np.float32)
      padded_b = np.zeros((b.shape[0], rank), np.float32)
      padded_a[:module_rank], padded_b[:, :module_rank] = pair["A"], b * (theirs / ours)
      updates[(layer, role)] = (padded_a.T, padded_b.T)
  return config, updates


def _locate(name: str, layer_path: str, modules: dict) -> Optional[Tuple[int, Tuple[str, ...]]]:
  """A PEFT module name -> (layer index, the roles it plays), or None for no projection."""
  match = re.fullmatch(re.escape(layer_path).replace(r"\{\}", r"(\d+)") + "(.+)", name)
  roles = tuple(role for role, module in modules.items() if match and module == match.group(2))
  return (int(match.group(1)), roles) if roles else None


def _scale(settings: dict, module: str, rank: int) -> float:
  """PEFT's scale for one module: its alpha_pattern alpha (else lora_alpha) over its rank."""
  alpha = float(settings.get("lora_alpha", 8))
  for key, value in (settings.get("alpha_pattern") or {}).items():
    if re.match(rf"(.*\.)?({key})$", module):
      alpha = float(value)
  return alpha / (math.sqrt(rank) if settings.get("use_rslora") else rank)


def load_into(injected: injection.Injected, backbone, updates) -> int:
  """Assigns read_adapters' updates to the wrappers `inject` made from its config."""
  assigned = 0
  for _, _, wrapper in injected.wrappers:
    key = (_layer_of(backbone, wrapper), injection.role_of(wrapper.base.name))
    if key not in updates:
      continue
    a, b = updates[key]
    wrapper.lora_a.assign(a.reshape(wrapper.lora_a.shape))
    wrapper.lora_b.assign(b.reshape(wrapper.lora_b.shape))
    assigned += 1
  return assigned


def apply_adapters(directory: str, backbone) -> injection.Injected:
  """Reads a PEFT LoRA adapter into `backbone` and merges it: the base model as the adapter's
  trainer left it."""
  config, updates = read_adapters(directory, backbone)
  injected = injection.inject(backbone, config)
  assigned = load_into(injected, backbone, updates)
  injection.merge(injected)
  logging.info("LoRA adapter %s: %d projection(s), rank %d, merged into the base.", directory,
               assigned, config.lora_rank)
  return injected

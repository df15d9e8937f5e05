"""Parameter-efficient fine-tuning (--peft=lora|adapter) for the transformer families (bert,
causal_lm): the backbone's weights stay frozen and out of the optimizer; small trainable pieces
are added and trained with the task head.

  layers.py        LoraProjection and BottleneckAdapter, wrappers around one projection
  injection.py     which projections get them (--lora_targets), freezing, merging for serving
  checkpoints.py   what a PEFT run checkpoints (no base weights) and how the base is verified
  hugging_face.py  LoRA adapters in Hugging Face PEFT's file format, both ways
"""

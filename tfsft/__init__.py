"""tfsft: supervised fine-tuning of language models with TensorFlow / Keras 3, exported for TF Serving.

Deliberately imports nothing heavy: `tfsft.serving.servability` must run in a process that has only
tensorflow and tensorflow_text loaded.
"""

import os

__version__ = "0.1.0"

# TensorFlow's default CPU allocator takes every large tensor (MiniLM's 47 MB embedding gradient,
# the weight-decayed embedding, the feed-forward activations) as fresh pages from the OS and gives
# them back, each step; its BFC allocator keeps and reuses them. In MiniLM SST-2 training the
# memory-bound ops then took about half as long (docs/benchmarks.md, "CPU allocator"). It must be
# set before TensorFlow starts, which importing tfsft first does; a value the user set wins.
CPU_ALLOCATOR_SETTING = "TF_CPU_ALLOCATOR_USE_BFC"
os.environ.setdefault(CPU_ALLOCATOR_SETTING, "1")

"""tfsft: supervised fine-tuning of language models with TensorFlow / Keras 3, exported for TF Serving.

Deliberately imports nothing heavy: `tfsft.serving.servability` must run in a process that has only
tensorflow and tensorflow_text loaded.
"""

__version__ = "0.1.0"

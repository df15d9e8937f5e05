"""--strategy=mirrored on logical CPU devices: the same command, the same kind of result."""

import json
import re

from conftest import assert_ok, run_cli
from tfsft.serving.servability import check_servable


def test_mirrored_training_on_two_logical_cpus(tiny_imdb, tiny_bert, tmp_path):
  process = assert_ok(run_cli(
      "tfsft.train", "--task=imdb", "--model=bert", f"--init_checkpoint={tiny_bert}",
      f"--data_path={tiny_imdb}", f"--model_dir={tmp_path / 'model'}",
      f"--export_dir={tmp_path / 'export'}", "--strategy=mirrored", "--cpu_logical_devices=2",
      "--batch_size=16", "--train_steps=20", "--max_seq_length=32", "--learning_rate=3e-3"))
  assert "MirroredStrategy with 2 replica(s)" in process.stderr
  assert "8 row(s) per replica per step" in process.stderr
  with open(tmp_path / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  assert results["step"] == 20 and 0 <= results["validation"]["accuracy"] <= 1
  export_path = re.search(r"SavedModel: (\S+)", process.stdout).group(1)
  assert check_servable(export_path, {"text": ["great film", "awful film"]})["problems"] == []


# One SGD step of a causal LM on a batch whose rows carry very different numbers of trained
# tokens, on one device and on two replicas (logical CPUs must be configured before TensorFlow
# starts, hence a fresh process). Prints the largest difference of the updated embeddings.
_ONE_STEP_ON_ONE_AND_TWO_REPLICAS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from tiny_gguf import conversations, write_chat_llama
from tfsft.config import ModelConfig
from tfsft.data import causal_lm_examples, token_batches
from tfsft.data.packing import TokenizedExample
from tfsft.models import causal_lm
from tfsft.models.causal_lm_forward import NextTokenModel

path = write_chat_llama(sys.argv[1])
def step(strategy):
  with strategy.scope():
    model = causal_lm.build(ModelConfig(init_checkpoint=path, max_seq_length=48))
    network = NextTokenModel(model.causal_lm)
    network.compile(optimizer=keras.optimizers.SGD(0.5))
  encoded = [causal_lm_examples.encode_conversation(row["messages"]) for row in conversations(16)]
  examples = causal_lm_examples.conversation_examples(model, encoded, train_on_prompt=False)
  examples = [e if i % 2 else TokenizedExample(e.token_ids[:12], e.trained[:12])
              for i, e in enumerate(examples)]
  batches = token_batches.length_grouped_batches(examples, 8, 0, False, max_width=48,
                                                 pad_to_multiple=8)
  network.fit(tf.data.Dataset.from_tensors(next(iter(batches.dataset()))), verbose=0)
  return network.causal_lm.backbone.token_embedding.embeddings.numpy()
one = step(tf.distribute.get_strategy())
two = step(tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"]))
print(float(np.abs(one - two).max()))
"""


def test_a_causal_lm_step_is_the_same_on_two_replicas_as_on_one(tmp_path):
  """The loss is the mean over the trained tokens of the global batch, whichever replica holds
  them, so two replicas with uneven token counts take exactly the step one device takes (Keras'
  own per-replica averaging would not)."""
  import os
  import subprocess
  import sys
  tests = os.path.dirname(os.path.abspath(__file__))
  process = subprocess.run(
      [sys.executable, "-c", _ONE_STEP_ON_ONE_AND_TWO_REPLICAS, str(tmp_path / "tiny.gguf")],
      capture_output=True, text=True, cwd=tests,
      env=dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.path.dirname(tests)]),
               TF_CPP_MIN_LOG_LEVEL="2"))
  assert process.returncode == 0, process.stderr[-3000:]
  assert float(process.stdout.strip().splitlines()[-1]) < 1e-5

"""ExampleGen: any labeled-text source a tfsft task reads (TFDS, aclImdb, GLUE, CSV / TSV / JSONL /
TFRecord files) -> gzipped TFRecords of tf.Example in TFX's layout (tfsft/data/tfx_examples.py).

The splits are the task's own: the source's train and test, and an `eval` split carved from train
by tfsft's seeded hash of each example's text (--validation_fraction), so a pipeline trains and
evaluates on exactly the examples `tfsft.train` would. Each split is read and written by Beam
workers; the features are `text` (and `text_pair`) and `label` (the class name, or the number
for regression).
"""

import os

import apache_beam as beam

from pipelines import artifacts
from pipelines.component import Component
from tfsft.data import tfx_examples

# TFX's split names for tfsft's splits.
_SPLITS = {"train": "train", "validation": "eval", "test": "test"}


class ExampleGen(Component):
  OUTPUTS = {"examples": artifacts.EXAMPLES}
  PARAMETERS = {"task": None, "data": {}, "seed": 42}

  def fingerprint(self) -> dict:
    """Local sources are fingerprinted by their files' sizes and modification times (as TFX's
    file-based ExampleGen does), so changed data is read again."""
    path = self.parameters["data"].get("data_path")
    if not path or not os.path.exists(path):
      return {}
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names)
    return {os.path.relpath(name, path) if name != path else name:
            [os.path.getsize(name), os.path.getmtime(name)] for name in files}

  def execute(self, inputs, outputs, context):
    task, data = _load(self.parameters)
    examples = outputs["examples"]
    present = [split for split, dataset in
               (("train", data.train), ("validation", data.validation), ("test", data.test))
               if dataset is not None]
    with context.beam_pipeline() as pipeline:
      for split in present:
        folder = tfx_examples.split_dir(examples.uri, _SPLITS[split])
        _ = (pipeline
             | f"Start{split}" >> beam.Create([split])
             | f"Read{split}" >> beam.FlatMap(_serialized_examples, self.parameters)
             | f"Write{split}" >> beam.io.WriteToTFRecord(
                 os.path.join(folder, tfx_examples.FILE_PREFIX),
                 file_name_suffix=tfx_examples.FILE_SUFFIX,
                 compression_type=beam.io.filesystem.CompressionTypes.GZIP))
    examples.properties.update(
        split_names=[_SPLITS[split] for split in present], source=data.source,
        label_names=list(data.label_names), input_names=list(task.input_names),
        label_feature="label", task=self.parameters["task"],
        split_rule="the source's own splits; eval carved from train by tfsft's seeded hash of "
                   "the text (--validation_fraction, --seed)")


def _load(parameters):
  from tfsft.config import DataConfig
  from tfsft.tasks import TASKS
  task = TASKS.get(parameters["task"])(DataConfig(**parameters["data"]))
  return task, task.load_data(task.data_config, parameters["seed"])


def _serialized_examples(split: str, parameters):
  """Runs in a Beam worker: reads one split through the task's loader."""
  import tensorflow as tf
  task, data = _load(parameters)
  label_names = list(data.label_names)
  for inputs, target in getattr(data, split).as_numpy_iterator():
    texts = inputs if isinstance(inputs, tuple) else (inputs,)
    features = {name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text]))
                for name, text in zip(task.input_names, texts)}
    if label_names:
      label = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[label_names[int(target)].encode("utf-8")]))
    else:
      label = tf.train.Feature(float_list=tf.train.FloatList(value=[float(target)]))
    features["label"] = label
    yield tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()

"""ExampleGen: any source a labeled-text, NER, SQuAD or instruction-tuning task reads (TFDS,
aclImdb, GLUE, CSV / TSV / JSONL / TFRecord files, CoNLL files, SQuAD JSON, instruction files, or
sentence pairs and other tasks' examples turned into instructions) -> gzipped TFRecords of
tf.Example in TFX's layout (tfsft/data/tfx_examples.py).

The splits are the task's own: the source's train and test, and an `eval` split carved from train
by tfsft's seeded hash of each example's text (--validation_fraction), so a pipeline trains and
evaluates on exactly the examples `tfsft.train` would. With `split_feature` (TFX's
partition_feature_name) train and eval are instead re-split from their pooled examples by a
seeded hash of that feature, e.g. `text` of sentence pairs, so that every pair sharing a premise
lands on one side; test stays as the task made it (a test split tfsft carves from a single file
is cut by the hash of the whole text: give the source its own test file to keep the feature's
values out of it too). Each split is read and written by Beam workers; the features are those of
the task's kind (pipelines/example_kinds.py): `text` (and `text_pair`) and `label`; `tokens` and
`tags`; `question`, `context`, `answer_text` and `answer_start`; or `messages`.
"""

import hashlib
import os

import apache_beam as beam

from pipelines import artifacts, example_kinds
from pipelines.component import Component
from tfsft.data import tfx_examples
from tfsft.errors import UserError

# TFX's split names for tfsft's splits.
_SPLITS = {"train": "train", "validation": "eval", "test": "test"}


class ExampleGen(Component):
  OUTPUTS = {"examples": artifacts.EXAMPLES}
  PARAMETERS = {"task": None, "data": {}, "seed": 42, "split_feature": None}

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
    task = _task(self.parameters)
    kind = example_kinds.for_task(task)  # before reading: a task it cannot store stops here
    data = _data(task, self.parameters)
    examples = outputs["examples"]
    present = [split for split, dataset in
               (("train", data.train), ("validation", data.validation), ("test", data.test))
               if dataset is not None]
    split_feature = self.parameters["split_feature"]
    features = kind.feature_names(task)
    if split_feature is not None and split_feature not in features:
      raise UserError(f"--split_feature={split_feature} is not a feature of "
                      f"{self.parameters['task']}'s examples: choose from {', '.join(features)}")
    with context.beam_pipeline() as pipeline:
      def read(splits, name):
        return (pipeline
                | f"Start{name}" >> beam.Create(splits)
                | f"Read{name}" >> beam.FlatMap(_serialized_examples, self.parameters))

      def write(serialized, split):
        folder = tfx_examples.split_dir(examples.uri, _SPLITS[split])
        _ = serialized | f"Write{split}" >> beam.io.WriteToTFRecord(
            os.path.join(folder, tfx_examples.FILE_PREFIX),
            file_name_suffix=tfx_examples.FILE_SUFFIX,
            compression_type=beam.io.filesystem.CompressionTypes.GZIP)

      if split_feature is None:
        for split in present:
          write(read([split], split), split)
      else:
        pooled = read([split for split in present if split != "test"], "trainvalidation")
        train, validation = pooled | "SplitByFeature" >> beam.Partition(
            _by_feature_hash, 2, split_feature, task.data_config.validation_fraction,
            self.parameters["seed"])
        write(train, "train")
        write(validation, "validation")
        if "test" in present:
          write(read(["test"], "test"), "test")
        present = sorted({"train", "validation", *present}, key=list(_SPLITS).index)
    examples.properties.update(
        split_names=[_SPLITS[split] for split in present], source=data.source,
        label_names=list(data.label_names), input_names=kind.text_features(task),
        label_feature=kind.label_feature, task=self.parameters["task"], example_kind=kind.name,
        optional_features=list(kind.optional_features),
        split_rule=("the source's own splits; eval carved from train by tfsft's seeded hash of "
                    "the text (--validation_fraction, --seed)") if split_feature is None else (
                        f"train and eval re-split by a seeded hash of '{split_feature}' "
                        "(--validation_fraction, --seed); test as the task makes it"))


def _by_feature_hash(serialized: bytes, partitions: int, feature: str, fraction: float,
                     seed: int) -> int:
  """0 (train) or 1 (eval): where a seeded hash of the feature's value falls; equal values always
  land in the same split, on any worker or machine (hashlib, not Python's salted hash)."""
  import tensorflow as tf
  del partitions
  value = tf.train.Example.FromString(serialized).features.feature[feature]
  key = (b"\x00".join(value.bytes_list.value) if value.bytes_list.value  # all of a list's words
         else repr(value.float_list.value[0]).encode("utf-8"))
  digest = hashlib.sha256(f"{seed}:".encode("utf-8") + key).digest()
  return int(int.from_bytes(digest[:8], "big") < fraction * 2 ** 64)


def _task(parameters):
  from tfsft.config import DataConfig
  from tfsft.tasks import TASKS
  return TASKS.get(parameters["task"])(DataConfig(**parameters["data"]))


def _data(task, parameters):
  return task.load_data(task.data_config, parameters["seed"])


def _serialized_examples(split: str, parameters):
  """Runs in a Beam worker: reads one split through the task's loader."""
  import tensorflow as tf
  task = _task(parameters)
  kind, data = example_kinds.for_task(task), _data(task, parameters)
  label_names = list(data.label_names)
  for inputs, target in getattr(data, split).as_numpy_iterator():
    features = {name: _feature(value)
                for name, value in kind.features(task, inputs, target, label_names).items()}
    yield tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _feature(value):
  """A tf.train.Feature of a float, integers (example_kinds.Int64s), a bytes value or a list of
  them (CoNLL's words)."""
  import tensorflow as tf
  if isinstance(value, example_kinds.Int64s):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=value))
  if isinstance(value, float):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
  return tf.train.Feature(bytes_list=tf.train.BytesList(
      value=value if isinstance(value, list) else [value]))

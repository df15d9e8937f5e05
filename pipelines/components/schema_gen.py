"""SchemaGen: a tensorflow-metadata `Schema` (`<uri>/schema.pbtxt`, as TFX writes it) inferred from
the training split's statistics; ImportSchemaGen takes a curated one instead.

Inferred: every feature's type, presence (required in every example when it was, unless its
examples' kind marks it optional: SQuAD 2.0's answers) and value count (at most one for single
values);
a string domain for a feature with at most `max_domain_size` distinct values that is not a text
input (the labels); and on the label feature a drift comparator (L-infinity distance of the label
distribution between the training split and each other split, as TFDV's `drift_comparator`).
"""

import os
import shutil

from pipelines import artifacts
from pipelines.component import Component
from pipelines.components import statistics_gen
from tfsft.errors import UserError

SCHEMA_FILE = "schema.pbtxt"


class SchemaGen(Component):
  INPUTS = {"statistics": artifacts.STATISTICS, "examples": artifacts.EXAMPLES}
  OUTPUTS = {"schema": artifacts.SCHEMA}
  PARAMETERS = {"max_domain_size": 100, "label_drift_threshold": 0.2}

  def execute(self, inputs, outputs, context):
    from tensorflow_metadata.proto.v0 import schema_pb2
    examples = inputs["examples"].properties
    train = statistics_gen.read(inputs["statistics"].uri, "train")
    schema = schema_pb2.Schema()
    for stats in train.features:
      name = stats.path.step[0]
      feature = schema.feature.add(name=name)
      feature.type = {stats.STRING: schema_pb2.BYTES, stats.INT: schema_pb2.INT,
                      stats.FLOAT: schema_pb2.FLOAT}[stats.type]
      common = (stats.string_stats.common_stats if stats.type == stats.STRING
                else stats.num_stats.common_stats)
      optional = name in examples.get("optional_features", ())
      feature.presence.min_fraction = (0.0 if optional else
                                       common.num_non_missing / max(train.num_examples, 1))
      feature.presence.min_count = 0 if optional else 1
      feature.value_count.min = 0 if optional else common.min_num_values
      # As TFDV infers: an upper bound for single values only (an eval sentence longer than
      # every training one is no anomaly).
      if common.max_num_values == 1:
        feature.value_count.max = 1
      if name in examples.get("input_names", ()):
        feature.natural_language_domain.SetInParent()
      elif (stats.type == stats.STRING and stats.string_stats.top_values
            and stats.string_stats.unique <= self.parameters["max_domain_size"]):
        domain = schema.string_domain.add(name=name)
        domain.value.extend(sorted(value.value for value in stats.string_stats.top_values))
        feature.domain = name
      if name == examples.get("label_feature"):
        feature.drift_comparator.infinity_norm.threshold = self.parameters["label_drift_threshold"]
    write(schema, outputs["schema"].uri)


class ImportSchemaGen(Component):
  """A curated schema (edited from an earlier SchemaGen's) that new data must satisfy."""
  OUTPUTS = {"schema": artifacts.SCHEMA}
  PARAMETERS = {"schema_file": None}

  def fingerprint(self) -> dict:
    path = self.parameters["schema_file"]
    return {"schema": open(path).read()} if path and os.path.isfile(path) else {}

  def execute(self, inputs, outputs, context):
    path = self.parameters["schema_file"]
    try:
      read_file(path)
    except (OSError, ValueError) as error:
      raise UserError(f"--schema={path} is not a readable schema.pbtxt ({error}): pass a Schema "
                      "in protobuf text format, e.g. a SchemaGen output") from None
    shutil.copyfile(path, os.path.join(outputs["schema"].uri, SCHEMA_FILE))


def write(schema, uri: str):
  from google.protobuf import text_format
  with open(os.path.join(uri, SCHEMA_FILE), "w") as handle:
    handle.write(text_format.MessageToString(schema))


def read(uri: str):
  return read_file(os.path.join(uri, SCHEMA_FILE))


def read_file(path: str):
  from google.protobuf import text_format
  from tensorflow_metadata.proto.v0 import schema_pb2
  with open(path) as handle:
    return text_format.Parse(handle.read(), schema_pb2.Schema())

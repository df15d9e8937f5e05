"""ExampleValidator: each split's statistics checked against the schema, as tensorflow-metadata
`Anomalies` (`<uri>/Split-<name>/SchemaDiff.pb`, TFX's file); any anomaly stops the pipeline
before training, with a line naming the split, the feature and what is wrong.

Checked: features the schema requires but the split lacks (or has in too few examples), features
the schema does not know, string values outside the feature's domain (unseen labels), empty texts,
and drift of a feature's value distribution beyond its drift comparator's L-infinity threshold
(each split against train).
"""

import os

from pipelines import artifacts
from pipelines.component import Component
from pipelines.components import schema_gen, statistics_gen
from tfsft.data import tfx_examples

ANOMALIES_FILE = "SchemaDiff.pb"


class ExampleValidator(Component):
  INPUTS = {"statistics": artifacts.STATISTICS, "schema": artifacts.SCHEMA}
  OUTPUTS = {"anomalies": artifacts.ANOMALIES}

  def execute(self, inputs, outputs, context):
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    schema = schema_gen.read(inputs["schema"].uri)
    splits = inputs["statistics"].properties["split_names"]
    train = statistics_gen.read(inputs["statistics"].uri, "train")
    found = []
    for split in splits:
      anomalies = anomalies_pb2.Anomalies()
      anomalies.baseline.CopyFrom(schema)
      stats = statistics_gen.read(inputs["statistics"].uri, split)
      for feature_name, kind, description in _problems(schema, stats, train):
        info = anomalies.anomaly_info[feature_name]
        info.severity = info.ERROR
        info.reason.add(type=getattr(anomalies_pb2.AnomalyInfo, kind), description=description)
        info.description = "; ".join(reason.description for reason in info.reason)
        found.append(f"split {split}, feature '{feature_name}': {description}")
      folder = tfx_examples.split_dir(outputs["anomalies"].uri, split)
      os.makedirs(folder, exist_ok=True)
      with open(os.path.join(folder, ANOMALIES_FILE), "wb") as handle:
        handle.write(anomalies.SerializeToString())
    outputs["anomalies"].properties.update(split_names=splits, anomalies=found)
    if found:
      return (f"{len(found)} anomal{'y' if len(found) == 1 else 'ies'} in the data "
              f"({outputs['anomalies'].uri}), first {found[0]}: fix the data, or the schema if "
              "the data is right (--schema=<edited schema.pbtxt>)")
    return None


def _problems(schema, stats, train):
  """(feature, AnomalyInfo type, description) for each way `stats` breaks `schema`."""
  by_name = {feature.path.step[0]: feature for feature in stats.features}
  train_by_name = {feature.path.step[0]: feature for feature in train.features}
  domains = {domain.name: set(domain.value) for domain in schema.string_domain}
  known = {feature.name for feature in schema.feature}
  for name in sorted(set(by_name) - known):
    yield name, "SCHEMA_NEW_COLUMN", "is not in the schema"
  for feature in schema.feature:
    observed = by_name.get(feature.name)
    if observed is None:
      yield feature.name, "SCHEMA_MISSING_COLUMN", "is missing from every example"
      continue
    common = _common(observed)
    fraction = common.num_non_missing / max(stats.num_examples, 1)
    if fraction < feature.presence.min_fraction:
      yield (feature.name, "FEATURE_TYPE_LOW_FRACTION_PRESENT",
             f"present in {fraction:.1%} of the examples, the schema requires "
             f"{feature.presence.min_fraction:.1%}")
    if feature.domain in domains:
      unexpected = sorted({value.value for value in observed.string_stats.top_values}
                          - domains[feature.domain])
      if unexpected:
        yield (feature.name, "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
               f"unexpected values {', '.join(map(repr, unexpected))} (the schema allows "
               f"{', '.join(sorted(domains[feature.domain]))})")
    if feature.HasField("natural_language_domain"):
      empty = [stat.num for stat in observed.custom_stats if stat.name == "num_empty_values"]
      if empty and empty[0] > 0:
        yield feature.name, "FEATURE_TYPE_NO_VALUES", f"{int(empty[0])} empty text(s)"
    threshold = feature.drift_comparator.infinity_norm.threshold
    if threshold and stats.name != "train" and feature.name in train_by_name:
      distance, value = _l_infinity(observed, train_by_name[feature.name])
      if distance > threshold:
        yield (feature.name, "COMPARATOR_L_INFTY_HIGH",
               f"its distribution drifts from train's by {distance:.3f} (value {value!r}), above "
               f"the threshold {threshold}")


def _common(feature):
  return (feature.string_stats.common_stats if feature.type == feature.STRING
          else feature.num_stats.common_stats)


def _l_infinity(feature, baseline):
  """The largest difference of any value's share between two splits, and that value."""
  def shares(stats):
    total = sum(value.frequency for value in stats.string_stats.top_values) or 1
    return {value.value: value.frequency / total for value in stats.string_stats.top_values}
  ours, theirs = shares(feature), shares(baseline)
  gaps = {value: abs(ours.get(value, 0) - theirs.get(value, 0)) for value in {*ours, *theirs}}
  if not gaps:
    return 0.0, None
  value = max(gaps, key=gaps.get)
  return gaps[value], value

"""StatisticsGen: per split, a tensorflow-metadata `DatasetFeatureStatisticsList` as TFDV writes
it (`<uri>/Split-<name>/FeatureStats.pb`), computed by a Beam combine over the examples.

Per feature: presence, value counts, and for strings the most frequent values (the label
distribution), the number of distinct values (up to _DISTINCT_TRACKED), the average length, and
for texts histograms of their length in characters and in tokens (whitespace-separated words,
which need no model's tokenizer) plus the number of empty values.
"""

import collections
import os

import apache_beam as beam

from pipelines import artifacts
from pipelines.component import Component
from tfsft.data import tfx_examples

STATISTICS_FILE = "FeatureStats.pb"
_DISTINCT_TRACKED = 1000  # a feature with more distinct values is a text, not a category
_HISTOGRAM_BUCKETS = 10


class StatisticsGen(Component):
  INPUTS = {"examples": artifacts.EXAMPLES}
  OUTPUTS = {"statistics": artifacts.STATISTICS}

  def execute(self, inputs, outputs, context):
    examples, statistics = inputs["examples"], outputs["statistics"]
    splits = tfx_examples.split_names(examples.uri)
    with context.beam_pipeline() as pipeline:
      for split in splits:
        pattern = os.path.join(tfx_examples.split_dir(examples.uri, split), "*")
        _ = (pipeline
             | f"Read{split}" >> beam.io.ReadFromTFRecord(
                 pattern, compression_type=beam.io.filesystem.CompressionTypes.GZIP)
             | f"Parse{split}" >> beam.Map(_features)
             | f"Combine{split}" >> beam.CombineGlobally(FeatureStatsCombiner())
             | f"Write{split}" >> beam.Map(_write, split,
                                           tfx_examples.split_dir(statistics.uri, split)))
    statistics.properties.update(split_names=splits)


def read(statistics_uri: str, split: str):
  """The split's DatasetFeatureStatistics."""
  from tensorflow_metadata.proto.v0 import statistics_pb2
  with open(os.path.join(tfx_examples.split_dir(statistics_uri, split), STATISTICS_FILE),
            "rb") as handle:
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read()).datasets[0]


def _features(record: bytes) -> dict:
  """name -> (kind, values) of one serialized tf.Example."""
  import tensorflow as tf
  example = tf.train.Example.FromString(record)
  features = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof("kind")
    features[name] = (kind, list(getattr(feature, kind).value) if kind else [])
  return features


def _new_feature():
  return {"kind": None, "present": 0, "values": 0, "min_values": None, "max_values": 0,
          "distinct": collections.Counter(), "too_many_distinct": False, "chars": 0,
          "char_lengths": collections.Counter(), "token_lengths": collections.Counter(),
          "empty": 0, "numbers": []}


class FeatureStatsCombiner(beam.CombineFn):
  """One split's examples -> per-feature counts, lengths and distinct values."""

  def create_accumulator(self):
    return {"examples": 0, "features": {}}

  def add_input(self, accumulator, features):
    accumulator["examples"] += 1
    for name, (kind, values) in features.items():
      stats = accumulator["features"].setdefault(name, _new_feature())
      stats["kind"] = stats["kind"] or kind
      stats["present"] += 1
      stats["values"] += len(values)
      stats["min_values"] = len(values) if stats["min_values"] is None else min(
          stats["min_values"], len(values))
      stats["max_values"] = max(stats["max_values"], len(values))
      for value in values:
        if kind == "bytes_list":
          text = value.decode("utf-8", "replace")
          stats["chars"] += len(text)
          stats["char_lengths"][len(text)] += 1
          stats["token_lengths"][len(text.split())] += 1
          stats["empty"] += not text.strip()
          _count_distinct(stats, text)
        else:
          stats["numbers"].append(float(value))
          _count_distinct(stats, value)
    return accumulator

  def merge_accumulators(self, accumulators):
    merged = self.create_accumulator()
    for accumulator in accumulators:
      merged["examples"] += accumulator["examples"]
      for name, stats in accumulator["features"].items():
        into = merged["features"].setdefault(name, _new_feature())
        into["kind"] = into["kind"] or stats["kind"]
        for field in ("present", "values", "chars", "empty"):
          into[field] += stats[field]
        if stats["min_values"] is not None:
          into["min_values"] = stats["min_values"] if into["min_values"] is None else min(
              into["min_values"], stats["min_values"])
        into["max_values"] = max(into["max_values"], stats["max_values"])
        for field in ("char_lengths", "token_lengths"):
          into[field].update(stats[field])
        into["numbers"].extend(stats["numbers"])
        into["too_many_distinct"] |= stats["too_many_distinct"]
        for value, count in stats["distinct"].items():
          into["distinct"][value] += count
        if len(into["distinct"]) > _DISTINCT_TRACKED:
          into["too_many_distinct"], into["distinct"] = True, collections.Counter()
    return merged

  def extract_output(self, accumulator):
    return accumulator


def _count_distinct(stats, value):
  if stats["too_many_distinct"]:
    return
  stats["distinct"][value] += 1
  if len(stats["distinct"]) > _DISTINCT_TRACKED:
    stats["too_many_distinct"], stats["distinct"] = True, collections.Counter()


def _write(accumulator, split: str, folder: str):
  from tensorflow_metadata.proto.v0 import statistics_pb2
  statistics = statistics_pb2.DatasetFeatureStatisticsList()
  dataset = statistics.datasets.add(name=split, num_examples=accumulator["examples"])
  for name, stats in sorted(accumulator["features"].items()):
    _feature_statistics(dataset.features.add(), name, stats, accumulator["examples"])
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, STATISTICS_FILE), "wb") as handle:
    handle.write(statistics.SerializeToString())


def _feature_statistics(feature, name, stats, examples):
  feature.path.step.append(name)
  kinds = {"bytes_list": feature.STRING, "int64_list": feature.INT, "float_list": feature.FLOAT}
  feature.type = kinds.get(stats["kind"], feature.STRING)
  if feature.type == feature.STRING:
    common = feature.string_stats.common_stats
    string_stats = feature.string_stats
    string_stats.avg_length = stats["chars"] / max(stats["values"], 1)
    if not stats["too_many_distinct"]:
      string_stats.unique = len(stats["distinct"])
      for rank, (value, count) in enumerate(stats["distinct"].most_common()):
        string_stats.top_values.add(value=value, frequency=count)
        string_stats.rank_histogram.buckets.add(low_rank=rank, high_rank=rank, label=value,
                                                sample_count=count)
    feature.custom_stats.add(name="num_empty_values", num=stats["empty"])
    for stat_name, lengths in (("text_length_histogram", stats["char_lengths"]),
                               ("token_length_histogram", stats["token_lengths"])):
      _histogram(feature.custom_stats.add(name=stat_name).histogram, lengths)
  else:
    common = feature.num_stats.common_stats
    numbers = stats["numbers"]
    if numbers:
      mean = sum(numbers) / len(numbers)
      feature.num_stats.mean = mean
      feature.num_stats.min = min(numbers)
      feature.num_stats.max = max(numbers)
      feature.num_stats.std_dev = (sum((x - mean) ** 2 for x in numbers) / len(numbers)) ** 0.5
      _histogram(feature.num_stats.histograms.add(), collections.Counter(numbers))
  common.num_non_missing = stats["present"]
  common.num_missing = examples - stats["present"]
  common.min_num_values = stats["min_values"] or 0
  common.max_num_values = stats["max_values"]
  common.avg_num_values = stats["values"] / max(stats["present"], 1)
  common.tot_num_values = stats["values"]


def _histogram(histogram, counts: collections.Counter):
  """Equal-width buckets over [min, max] (TFDV's STANDARD histogram)."""
  histogram.type = histogram.STANDARD
  if not counts:
    return
  low, high = min(counts), max(counts)
  width = (high - low) / _HISTOGRAM_BUCKETS or 1
  buckets = [0] * _HISTOGRAM_BUCKETS
  for value, count in counts.items():
    buckets[min(int((value - low) / width), _HISTOGRAM_BUCKETS - 1)] += count
  for index, count in enumerate(buckets):
    histogram.buckets.add(low_value=low + index * width, high_value=low + (index + 1) * width,
                          sample_count=count)

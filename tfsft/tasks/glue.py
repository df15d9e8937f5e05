"""GLUE (Wang et al., 2019): nine sentence and sentence-pair tasks, --task=glue/<name>.

Run (SST-2 from local TSVs, MiniLM; docs/benchmarks.md has measured numbers):
  python -m tfsft.train --task=glue/sst2 --model=bert \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --data_path=../shared/data/glue_sst2
Data: TFDS `glue/<name>` by default, or --data_path=<directory of the GLUE release's TSVs>, read by
column name (train.tsv, dev.tsv; MNLI: dev_matched.tsv, and dev_mismatched.tsv scored as
`validation_mismatched`). The GLUE test files have no labels: scores are on dev. Metrics follow
GLUE: CoLA Matthews correlation, MRPC and QQP F1 and accuracy, STS-B Pearson and Spearman
(regression), the rest accuracy; every classification task reports them all.
"""

import dataclasses
import functools
import os
from typing import Optional, Tuple

from tfsft.config import DataConfig
from tfsft.data import labeled_files, splits, tfds_loading
from tfsft.tasks.classification import ClassificationTask
from tfsft.tasks.regression import RegressionTask


@dataclasses.dataclass(frozen=True)
class GlueSpec:
  text: str  # TSV column
  label: str
  text_pair: Optional[str] = None
  label_names: Tuple[str, ...] = ()  # () for regression
  label_values: Optional[Tuple[str, ...]] = None  # how the TSVs write each label; default: names
  tfds_text: Tuple[str, ...] = ("sentence",)  # TFDS feature names of the inputs
  validation_files: Tuple[str, ...] = ("dev",)
  mismatched_file: Optional[str] = None  # MNLI's second dev set (other genres)
  headerless_names: Optional[Tuple[str, ...]] = None  # the columns of TSVs without a header row


_BINARY = ("0", "1")
_NLI = ("entailment", "not_entailment")
SPECS = {
    # The GLUE release's CoLA train/dev TSVs have no header row.
    "cola": GlueSpec("sentence", "label", label_names=("unacceptable", "acceptable"),
                     label_values=_BINARY,
                     headerless_names=("source", "label", "original_label", "sentence")),
    "sst2": GlueSpec("sentence", "label", label_names=("negative", "positive"),
                     label_values=_BINARY),
    "mrpc": GlueSpec("#1 String", "Quality", "#2 String", ("not_equivalent", "equivalent"),
                     _BINARY, ("sentence1", "sentence2")),
    "qqp": GlueSpec("question1", "is_duplicate", "question2", ("not_duplicate", "duplicate"),
                    _BINARY, ("question1", "question2")),
    "mnli": GlueSpec("sentence1", "gold_label", "sentence2",
                     ("entailment", "neutral", "contradiction"), None, ("premise", "hypothesis"),
                     ("dev_matched",), "dev_mismatched"),
    "qnli": GlueSpec("question", "label", "sentence", _NLI, None, ("question", "sentence")),
    "rte": GlueSpec("sentence1", "label", "sentence2", _NLI, None, ("sentence1", "sentence2")),
    "wnli": GlueSpec("sentence1", "label", "sentence2", ("not_entailment", "entailment"), _BINARY,
                     ("sentence1", "sentence2")),
    "stsb": GlueSpec("sentence1", "score", "sentence2", (), None, ("sentence1", "sentence2")),
}


class _GlueData:
  glue_name: str

  @property
  def spec(self) -> GlueSpec:
    return SPECS[self.glue_name]

  @property
  def input_names(self):
    return ("text", "text_pair") if self.spec.text_pair else ("text",)

  def load_data(self, config, seed):
    if config.data_path:
      return self._load_local(config, seed)
    return _load_tfds(self.glue_name, self.spec, config)

  def _load_local(self, config, seed):
    spec = self.spec
    split_stems = {"train": ("train",), "validation": spec.validation_files}
    columns = labeled_files.Columns(spec.text, spec.label, spec.text_pair, spec.headerless_names)
    data = labeled_files.load(
        config, seed, columns, regression=not spec.label_names,
        label_names=spec.label_names or None, label_values=spec.label_values,
        split_stems=split_stems)
    if spec.mismatched_file and os.path.isdir(config.data_path):
      path = labeled_files.find_files(config.data_path, {"train": (spec.mismatched_file,)})["train"]
      data.extra_evaluation["validation_mismatched"] = splits.limit(
          labeled_files.dataset_from_file(path, columns, False,
                                          spec.label_values or spec.label_names),
          config.max_eval_examples)
    return data


def _load_tfds(name, spec, config):
  import tensorflow as tf
  tfds_name = f"glue/{name}"
  names = (["train", "validation_matched", "validation_mismatched"] if spec.mismatched_file
           else ["train", "validation"])
  loaded, _, source = tfds_loading.load(tfds_name, names, "directory of the GLUE TSVs",
                                        config.tfds_data_dir)

  def as_example(row):
    texts = tuple(row[feature] for feature in spec.tfds_text)
    target = row["label"]
    target = tf.cast(target, tf.float32 if not spec.label_names else tf.int32)
    return (texts if len(texts) > 1 else texts[0]), target

  train, validation, *mismatched = (loaded[split].map(as_example) for split in names)
  return splits.LabeledTextSplits(
      train=splits.limit(train, config.max_train_examples),
      validation=splits.limit(validation, config.max_eval_examples), test=None,
      label_names=spec.label_names,
      source=source,
      extra_evaluation={"validation_mismatched": splits.limit(dataset, config.max_eval_examples)
                        for dataset in mismatched})


class GlueClassificationTask(_GlueData, ClassificationTask):
  pass


class GlueRegressionTask(_GlueData, RegressionTask):
  pass


def glue_task(glue_name: str, data_config: DataConfig = DataConfig()):
  task_class = GlueClassificationTask if SPECS[glue_name].label_names else GlueRegressionTask
  task = task_class(data_config)
  task.glue_name, task.name = glue_name, f"glue/{glue_name}"
  return task


TASK_FACTORIES = {f"glue/{name}": functools.partial(glue_task, name) for name in SPECS}

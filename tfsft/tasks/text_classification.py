"""Users' own labeled text: `text_classification` on CSV, TSV, JSON Lines or TFRecord files.

Run (a CSV with `review` and `sentiment` columns; labels are whatever the file uses):
  python -m tfsft.train --task=text_classification --model=bert \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --data_path=reviews.csv \
      --text_column=review --label_column=sentiment
Pairs: --text_pair_column=<column> (BERT packs them with segment ids; the SavedModel then takes
`text` and `text_pair`). Numeric targets: --regression (MSE, Pearson, Spearman; outputs `score`).
"""

from tfsft.config import DataConfig
from tfsft.data import labeled_files
from tfsft.tasks.classification import ClassificationTask
from tfsft.tasks.regression import RegressionTask


class _FileColumns:
  """Data from --data_path files, read by the --*_column flags."""

  @property
  def input_names(self):
    return ("text", "text_pair") if self.data_config.text_pair_column else ("text",)

  def load_data(self, config, seed):
    columns = labeled_files.Columns(text=config.text_column, label=config.label_column,
                                    text_pair=config.text_pair_column)
    return labeled_files.load(config, seed, columns, regression=config.regression)


class TextClassificationTask(_FileColumns, ClassificationTask):
  name = "text_classification"


class TextRegressionTask(_FileColumns, RegressionTask):
  name = "text_classification"


def text_classification(data_config: DataConfig = DataConfig()):
  """The task for --task=text_classification: classes, or a score with --regression."""
  task_class = TextRegressionTask if data_config.regression else TextClassificationTask
  return task_class(data_config)

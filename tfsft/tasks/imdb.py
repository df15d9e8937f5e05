"""IMDb sentiment (binary: neg / pos) on 50k movie reviews.

Run (real MiniLM checkpoint, a 2,000-review slice, ~10 minutes on 2 CPU cores):
  python -m tfsft.train --task=imdb --model=bert \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 \
      --data_path=../shared/data/imdb/aclImdb_train.tar.gz --max_train_examples=2000
Expected: validation accuracy about 0.8 (docs/benchmarks.md has measured numbers).
"""

from tfsft.data import imdb
from tfsft.tasks.classification import ClassificationTask


class ImdbTask(ClassificationTask):
  name = "imdb"

  def load_data(self, config, seed):
    return imdb.load(config, seed)

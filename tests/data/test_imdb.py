import os

import pytest

from tfsft.config import DataConfig
from tfsft.data import imdb, splits
from tfsft.data.text_checks import user_errors_from_data
from tfsft.errors import UserError


def _examples(dataset):
  return sorted((text.decode(), int(label)) for text, label in dataset.as_numpy_iterator())


def test_directory_and_tarball_give_the_same_splits(tiny_imdb, tiny_imdb_tarball):
  from_dir = imdb.load(DataConfig(data_path=tiny_imdb), seed=1)
  from_tar = imdb.load(DataConfig(data_path=tiny_imdb_tarball), seed=1)
  for split in ("train", "validation", "test"):
    assert _examples(getattr(from_dir, split)) == _examples(getattr(from_tar, split))
  assert from_dir.label_names == ("neg", "pos")
  assert "directory" in from_dir.source and "tarball" in from_tar.source


def test_validation_split_is_deterministic_disjoint_and_sized(tiny_imdb):
  first = imdb.load(DataConfig(data_path=tiny_imdb, validation_fraction=0.25), seed=3)
  again = imdb.load(DataConfig(data_path=tiny_imdb, validation_fraction=0.25), seed=3)
  other_seed = imdb.load(DataConfig(data_path=tiny_imdb, validation_fraction=0.25), seed=4)
  train, validation = _examples(first.train), _examples(first.validation)
  assert validation == _examples(again.validation)
  assert validation != _examples(other_seed.validation)
  assert not set(train) & set(validation)
  assert len(train) + len(validation) == 120
  assert 15 <= len(validation) <= 45  # 25% of 120, give or take hashing


def test_max_examples_slices_mix_both_classes(tiny_imdb):
  data = imdb.load(DataConfig(data_path=tiny_imdb, max_train_examples=20, max_eval_examples=6),
                   seed=0)
  labels = [label for _, label in _examples(data.train)]
  assert len(labels) == 20 and 0 < sum(labels) < 20
  assert splits.count(data.test) == 6


def test_data_path_accepts_the_parent_of_aclimdb(tiny_imdb):
  data = imdb.load(DataConfig(data_path=os.path.dirname(tiny_imdb)), seed=0)
  assert splits.count(data.test) == 40


@pytest.mark.parametrize("content,problem", [(b"", "is empty"), (b"  \n", "is empty"),
                                             (b"caf\xe9 latin-1", "is not valid UTF-8")])
def test_bad_review_files_name_the_file(tmp_path, tiny_imdb, content, problem):
  root = tmp_path / "aclImdb"
  for label in ("pos", "neg"):
    (root / "train" / label).mkdir(parents=True)
    (root / "train" / label / "1_8.txt").write_text("fine words here")
  (root / "train" / "neg" / "2_1.txt").write_bytes(content)
  data = imdb.load(DataConfig(data_path=str(root), validation_fraction=0.01), seed=0)
  with pytest.raises(UserError, match=f"2_1.txt {problem}"):
    with user_errors_from_data():
      splits.count(data.train.concatenate(data.validation))


@pytest.mark.parametrize("make,message", [
    (lambda p: str(p / "missing"), "does not exist"),
    (lambda p: str(p), "no train/pos"),
    (lambda p: (p / "notes.txt").write_text("x") and str(p / "notes.txt"), "neither a directory"),
])
def test_malformed_data_path(tmp_path, make, message):
  with pytest.raises(UserError, match=message):
    imdb.load(DataConfig(data_path=make(tmp_path)), seed=0)


def test_one_class_only_is_refused(tmp_path):
  folder = tmp_path / "aclImdb" / "train" / "pos"
  folder.mkdir(parents=True)
  (folder / "1_9.txt").write_text("good")
  with pytest.raises(UserError, match="both pos/ and neg/"):
    imdb.load(DataConfig(data_path=str(tmp_path / "aclImdb")), seed=0)


def test_truncated_tarball_is_a_user_error(tmp_path, tiny_imdb_tarball):
  broken = tmp_path / "broken.tar.gz"
  broken.write_bytes(open(tiny_imdb_tarball, "rb").read()[:2000])
  with pytest.raises(UserError):
    imdb.load(DataConfig(data_path=str(broken)), seed=0)

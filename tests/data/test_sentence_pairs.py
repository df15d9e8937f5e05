"""Sentence-pair reading and the deterministic train / validation / test carving."""

import pytest

from tfsft.config import DataConfig
from tfsft.data import sentence_pairs
from tfsft.errors import UserError


def _pairs(split):
  return [(source.decode(), target.decode()) for source, target in split.as_numpy_iterator()]


def test_extra_columns_are_ignored_and_blank_lines_skipped(tmp_path):
  path = tmp_path / "pairs.tsv"
  path.write_text("Go.\tVa !\tCC-BY 2.0 (France) Attribution\n\nHi.\tSalut.\n", encoding="utf-8")
  assert sentence_pairs.read_pairs(str(path)) == (["Go.", "Hi."], ["Va !", "Salut."])


@pytest.mark.parametrize("content,message", [
    ("Go.\tVa !\nHello there\n", "line 2 has one column ('Hello there'): expected source<TAB>target"),
    ("Go.\t \n", "line 1 has an empty target"),
    ("", "has no sentence pairs"),
])
def test_malformed_files_name_the_line(tmp_path, content, message):
  path = tmp_path / "pairs.tsv"
  path.write_text(content, encoding="utf-8")
  with pytest.raises(UserError, match=str(path)) as error:
    sentence_pairs.read_pairs(str(path))
  assert message in str(error.value)


def test_non_utf8_file_is_refused(tmp_path):
  path = tmp_path / "pairs.tsv"
  path.write_bytes(b"caf\xe9\tcaf\xe9\n")
  with pytest.raises(UserError, match="not valid UTF-8"):
    sentence_pairs.read_pairs(str(path))


def test_one_file_is_split_three_ways_deterministically(tmp_path):
  path = tmp_path / "pairs.tsv"
  lines = [f"source {i}\ttarget {i}" for i in range(400)]
  lines += ["Run!\tCours !", "Run!\tCourez !"]  # one source, two translations
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  config = DataConfig(data_path=str(path), validation_fraction=0.2, test_fraction=0.1)
  data = sentence_pairs.load(config, seed=1)
  again = sentence_pairs.load(config, seed=1)
  train, validation, test = (_pairs(data.train), _pairs(data.validation), _pairs(data.test))
  assert (train, validation, test) == (_pairs(again.train), _pairs(again.validation),
                                       _pairs(again.test))
  assert len(train) + len(validation) + len(test) == 402
  assert 50 < len(validation) < 110 and 20 < len(test) < 65
  assert not {s for s, _ in train} & {s for s, _ in validation + test}
  run_sides = [name for name, split in (("train", train), ("validation", validation), ("test", test))
               if ("Run!", "Cours !") in split or ("Run!", "Courez !") in split]
  assert len(run_sides) == 1, "pairs with the same source must land in the same split"
  assert data.label_names == () and "local sentence pairs" in data.source


def test_directory_with_split_files(tmp_path):
  (tmp_path / "train.tsv").write_text("a\tA\nb\tB\nc\tC\n", encoding="utf-8")
  (tmp_path / "dev.tsv").write_text("d\tD\n", encoding="utf-8")
  data = sentence_pairs.load(DataConfig(data_path=str(tmp_path)), seed=0)
  assert _pairs(data.validation) == [("d", "D")]
  assert data.test is None
  assert len(_pairs(data.train)) == 3


def test_missing_path_and_missing_train_file(tmp_path):
  with pytest.raises(UserError, match="does not exist"):
    sentence_pairs.load(DataConfig(data_path=str(tmp_path / "nope.tsv")), seed=0)
  with pytest.raises(UserError, match="has no train.tsv"):
    sentence_pairs.load(DataConfig(data_path=str(tmp_path)), seed=0)

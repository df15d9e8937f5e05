"""CoNLL reading: 2 or 4 columns, -DOCSTART- skipped, tag sets discovered, bad lines named."""

import pytest

from conftest import shared_path
from tfsft.data.conll import read_conll, tag_names
from tfsft.errors import UserError


def test_two_and_four_columns_and_document_starts(tmp_path):
  path = tmp_path / "train.txt"
  path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
                  "Peter B-PER \nBlackburn I-PER\n")
  sentences = read_conll(str(path))
  assert [s.words for s in sentences] == [("EU", "rejects"), ("Peter", "Blackburn")]
  assert [s.tags for s in sentences] == [("B-ORG", "O"), ("B-PER", "I-PER")]
  assert [s.line for s in sentences] == [3, 6]
  assert tag_names(sentences) == ["O", "B-ORG", "B-PER", "I-PER"]


def test_a_token_without_a_tag_names_the_line(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_text("EU B-ORG\nrejects\n")
  with pytest.raises(UserError, match=r"bad.txt line 2 has a token but no tag \('rejects'\)"):
    read_conll(str(path))


def test_the_real_conll_2003_files():
  path = shared_path("TFSFT_TEST_DATA", "conll2003", "valid.txt")
  sentences = read_conll(path)
  assert len(sentences) > 3000
  assert tag_names(sentences) == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG",
                                  "B-PER", "I-PER"]

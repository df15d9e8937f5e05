"""CoNLL-format token tagging files (CoNLL-2003 NER and any other tag set).

One token per line, the tag in the last column (2 columns: `token TAG`; 4 columns, as in the
CoNLL-2003 release: `token POS chunk TAG`), a blank line between sentences, `-DOCSTART-` lines
between documents (skipped). A line with a token but no tag is an error naming the file and line.
"""

import dataclasses
from typing import List, Sequence

from tfsft.errors import UserError

DOCUMENT_START = "-DOCSTART-"


@dataclasses.dataclass(frozen=True)
class TaggedSentence:
  words: Sequence[str]
  tags: Sequence[str]
  line: int  # where the sentence starts, for error messages


def read_conll(path: str) -> List[TaggedSentence]:
  sentences, words, tags, start = [], [], [], 0
  try:
    with open(path, encoding="utf-8") as handle:
      for number, line in enumerate(handle, start=1):
        columns = line.split()
        if not columns or columns[0] == DOCUMENT_START:
          if words:
            sentences.append(TaggedSentence(tuple(words), tuple(tags), start))
          words, tags = [], []
          continue
        if len(columns) < 2:
          raise UserError(f"{path} line {number} has a token but no tag ({line.strip()!r}): "
                          "expected `token TAG` or `token POS chunk TAG`")
        if not words:
          start = number
        words.append(columns[0])
        tags.append(columns[-1])
  except FileNotFoundError:
    raise UserError(f"{path} does not exist") from None
  except UnicodeDecodeError as error:
    raise UserError(f"{path} is not valid UTF-8 ({error.reason}): re-encode it as UTF-8") from None
  if words:
    sentences.append(TaggedSentence(tuple(words), tuple(tags), start))
  if not sentences:
    raise UserError(f"{path} has no tagged sentences: expected CoNLL lines `token TAG`")
  return sentences


def tag_names(sentences: Sequence[TaggedSentence]) -> List[str]:
  """The training split's tags: `O` first (when present), then the rest sorted, so B-X and I-X of
  one entity type sit side by side."""
  tags = {tag for sentence in sentences for tag in sentence.tags}
  return (["O"] if "O" in tags else []) + sorted(tags - {"O"}, key=lambda tag: (tag[2:], tag))

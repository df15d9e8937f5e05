"""Rows of users' own files, read by column name: CSV, TSV, JSON Lines, or TFRecord of tf.Example.

The format comes from the extension (.csv, .tsv/.txt, .jsonl/.json, .tfrecord/.tfrec); a Split-*
folder of a TFX Examples artifact (gzipped TFRecord shards, tfx_examples.py) reads as TFRecord. Delimited
files need a header row. GLUE's TSVs contain unbalanced quotes, so TSV is read without quoting;
CSV follows RFC 4180 (quoted fields may hold commas and newlines). Every problem names the file and
the line (or record) and says what to fix.
"""

import csv
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from tfsft.data import tfx_examples
from tfsft.errors import UserError

# Long documents are normal training text, and the csv module refuses fields over 128 KB by
# default. The limit is a C long: sys.maxsize overflows it where long is 32 bits (Windows).
try:
  csv.field_size_limit(sys.maxsize)
except OverflowError:
  csv.field_size_limit(2**31 - 1)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl",
           ".tfrecord": "tfrecord", ".tfrec": "tfrecord"}


def file_format(path: str) -> str:
  if tfx_examples.is_split_dir(path):
    return "tfrecord"
  extension = os.path.splitext(path)[1].lower()
  if extension not in FORMATS:
    raise UserError(f"{path}: unknown file type '{extension}': use one of "
                    f"{', '.join(sorted(FORMATS))}")
  return FORMATS[extension]


def read_columns(path: str, columns: Sequence[str], headerless_names: Optional[Sequence[str]] = None
                 ) -> Tuple[Dict[str, List[str]], List[str]]:
  """The named columns of every row, as strings, and where each row is ("file line N") for later
  errors. A missing column or an empty cell is a UserError.

  `headerless_names` names the columns of delimited files that may come without a header row
  (GLUE's CoLA): used when the first row lacks the wanted columns and has that many fields.
  """
  if not (os.path.isfile(path) or tfx_examples.is_split_dir(path)):
    raise UserError(f"{path} does not exist")
  if file_format(path) in ("csv", "tsv"):
    first = header(path)
    no_header = (headerless_names and not set(columns) <= set(first)
                 and len(first) == len(headerless_names))
    rows = _delimited_rows(path, names=headerless_names if no_header else None)
  else:
    rows = {"jsonl": _json_rows, "tfrecord": example_rows}[file_format(path)](path)
  values = {column: [] for column in columns}
  locations = []
  for where, row in rows:
    missing = [column for column in columns if column not in row]
    if missing:
      raise UserError(f"{where} has no column '{missing[0]}' (it has: {', '.join(sorted(row))}): "
                      "fix the file or name another column with the --*_column flags")
    for column in columns:
      value = row[column]
      if value is None or not str(value).strip():
        raise UserError(f"{where}: column '{column}' is empty: give it a value or remove the row")
      values[column].append(str(value))
    locations.append(where)
  if not locations:
    raise UserError(f"{path} has no rows")
  return values, locations


def header(path: str):
  """The column names of a delimited file (None for JSON Lines and TFRecord, which name fields
  per row)."""
  if file_format(path) not in ("csv", "tsv"):
    return None
  rows = _delimited_rows(path, header_only=True)
  return next(rows)


def _delimited_rows(path, header_only=False, names=None):
  """(where, {column: value}) per row; `names` stands in for a missing header row."""
  delimiter = "," if file_format(path) == "csv" else "\t"
  quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
  row_start = 1  # where the row being read begins: an unclosed quote is only noticed at the end
  try:
    with open(path, encoding="utf-8", newline="") as handle:
      # strict: without it a quote that is never closed swallows the rest of the file into one field.
      reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=True)
      header = list(names) if names else next(reader, None)
      if header is None:
        raise UserError(f"{path} is empty: it needs a header row and data rows")
      header = [name.strip() for name in header]
      if header_only:
        yield header
        return
      row_start = reader.line_num + 1
      for row in reader:
        row_start = reader.line_num + 1  # of the next row
        if not any(cell.strip() for cell in row):
          continue
        where = f"{path} line {reader.line_num}"
        if len(row) != len(header):
          raise UserError(f"{where} has {len(row)} fields but the header has {len(header)}: "
                          "fix the row (a stray delimiter or a missing value)")
        yield where, dict(zip(header, row))
  except UnicodeDecodeError as error:
    raise UserError(f"{path} is not valid UTF-8 ({error.reason}): re-encode it as UTF-8") from None
  except csv.Error as error:
    if "unexpected end of data" in str(error):
      raise UserError(f"{path} line {row_start}: a quoted field that starts in this row is never "
                      'closed: add the closing quote (a quote inside a quoted field is written "")'
                      ) from None
    raise UserError(f"{path} line {reader.line_num}: {error}: fix the quoting (a quoted field ends "
                    'at its closing quote; a quote inside one is written "")') from None


def _json_rows(path):
  with open(path, encoding="utf-8") as handle:
    for number, line in enumerate(handle, start=1):
      if not line.strip():
        continue
      where = f"{path} line {number}"
      try:
        row = json.loads(line)
      except json.JSONDecodeError as error:
        raise UserError(f"{where} is not JSON ({error.msg}): one JSON object per line") from None
      if not isinstance(row, dict):
        raise UserError(f"{where} is not a JSON object: one JSON object per line")
      yield where, row


def example_rows(path, all_values: bool = False):
  """(where, {feature: its first value, str for bytes}) per tf.Example of a TFRecord file or a
  TFX Split-* folder; with `all_values`, each feature's list of values (CoNLL's words)."""
  import tensorflow as tf
  if os.path.isdir(path):  # a TFX Split-* folder
    records = tf.data.TFRecordDataset(tfx_examples.shard_files(path), compression_type="GZIP")
  else:
    records = tf.data.TFRecordDataset(path)
  try:
    for number, record in enumerate(records.as_numpy_iterator(), start=1):
      example = tf.train.Example.FromString(record)
      row = {}
      for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = [value.decode("utf-8") if isinstance(value, bytes) else value
                  for value in (getattr(feature, kind).value if kind else [])]
        if all_values:
          row[name] = values
        elif values:
          row[name] = values[0]
      yield f"{path} record {number}", row
  except (tf.errors.DataLossError, UnicodeDecodeError) as error:
    raise UserError(f"{path} is not a readable TFRecord of tf.Example "
                    f"({type(error).__name__}): check the file") from None

"""Users' files read by column name, with errors that name the file and line."""

import json
import logging

import pytest
import tensorflow as tf

from tfsft.config import DataConfig
from tfsft.data import labeled_files, tables
from tfsft.errors import UserError


def test_csv_quotes_tsv_without_quoting_jsonl_and_tfrecord(tmp_path):
  (tmp_path / "a.csv").write_text('text,label\n"good, really",pos\n"a ""quoted"" word",neg\n')
  (tmp_path / "a.tsv").write_text('label\ttext\npos\tan "unbalanced quote\n')
  (tmp_path / "a.jsonl").write_text(json.dumps({"text": "fine", "label": 1}) + "\n\n")
  with tf.io.TFRecordWriter(str(tmp_path / "a.tfrecord")) as writer:
    feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"caf\xc3\xa9"])),
               "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3]))}
    writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  read = lambda name: tables.read_columns(str(tmp_path / name), ["text", "label"])[0]
  assert read("a.csv") == {"text": ["good, really", 'a "quoted" word'], "label": ["pos", "neg"]}
  assert read("a.tsv") == {"text": ['an "unbalanced quote'], "label": ["pos"]}
  assert read("a.jsonl") == {"text": ["fine"], "label": ["1"]}
  assert read("a.tfrecord") == {"text": ["café"], "label": ["3"]}


@pytest.mark.parametrize("name,content,message", [
    ("b.tsv", "label\tsentence\n1\tok\n", "b.tsv line 2 has no column 'text' (it has: label, sentence)"),
    ("c.csv", "text,label\nok,1\nmore,1,extra\n", "c.csv line 3 has 3 fields but the header has 2"),
    ("d.jsonl", '{"text": "ok", "label": "a"}\nnot json\n', "d.jsonl line 2 is not JSON"),
    ("e.tsv", "text\tlabel\n \tpos\n", "e.tsv line 2: column 'text' is empty"),
    ("f.xlsx", "", "unknown file type '.xlsx'"),
    # Where the quote opens, not the end of the file it swallowed.
    ("g.csv", 'text,label\nok,1\n"never closed,1\nmore,1\n',
     "g.csv line 3: a quoted field that starts in this row is never closed: add the closing quote"),
    ("h.csv", 'text,label\n"closed"junk,1\n', "h.csv line 2: ',' expected after '\"': fix the quoting"),
])
def test_errors_name_the_file_and_line(tmp_path, name, content, message):
  (tmp_path / name).write_text(content)
  with pytest.raises(UserError) as error:
    tables.read_columns(str(tmp_path / name), ["text", "label"])
  assert message in str(error.value)


def test_csv_fields_over_the_csv_modules_default_128_kb_are_read(tmp_path):
  document = "a long document " * 20_000  # 320 KB
  (tmp_path / "long.csv").write_text(f'text,label\n"{document}",pos\n')
  assert tables.read_columns(str(tmp_path / "long.csv"), ["text", "label"])[0]["text"] == [document]


def _labels(dataset):
  return [int(label) for _, label in dataset.as_numpy_iterator()]


def test_labels_are_discovered_from_train_and_checked_elsewhere(tmp_path):
  (tmp_path / "train.csv").write_text("text,label\na,10\nb,9\nc,10\n")
  (tmp_path / "dev.csv").write_text("text,label\nd,9\n")
  columns = labeled_files.Columns("text", "label")
  data = labeled_files.load(DataConfig(data_path=str(tmp_path)), 0, columns, regression=False)
  assert data.label_names == ("9", "10")  # numeric order, not string order
  assert _labels(data.train) == [1, 0, 1] and _labels(data.validation) == [0]
  (tmp_path / "dev.csv").write_text("text,label\nd,11\n")
  with pytest.raises(UserError, match=r"dev.csv line 2: label '11' is not one of '9', '10'"):
    labeled_files.load(DataConfig(data_path=str(tmp_path)), 0, columns, regression=False)


def test_regression_needs_numbers_and_pairs_become_tuples(tmp_path):
  path = tmp_path / "pairs.jsonl"
  path.write_text("".join(json.dumps({"a": f"s{i}", "b": f"t{i}", "y": i / 2}) + "\n"
                          for i in range(40)))
  columns = labeled_files.Columns("a", "y", text_pair="b")
  data = labeled_files.load(DataConfig(data_path=str(path)), 0, columns, regression=True)
  (first, second), target = next(iter(data.train.as_numpy_iterator()))
  assert first.decode().startswith("s") and second.decode().startswith("t")
  assert target.dtype.name == "float32" and data.label_names == ()
  path.write_text(json.dumps({"a": "s", "b": "t", "y": "high"}) + "\n")
  with pytest.raises(UserError, match="line 1: label 'high' is not a number"):
    labeled_files.load(DataConfig(data_path=str(path)), 0, columns, regression=True)


def test_a_file_missing_the_text_column_uses_its_only_other_column(tmp_path, caplog):
  (tmp_path / "train.tsv").write_text("label\tsentence\n0\tbad\n1\tgood\n")
  (tmp_path / "dev.tsv").write_text("label\tcontent\n1\tfine\n")
  with caplog.at_level(logging.WARNING):
    data = labeled_files.load(DataConfig(data_path=str(tmp_path)), 0,
                              labeled_files.Columns("sentence", "label"), regression=False)
  assert [text for text, _ in data.validation.as_numpy_iterator()] == [b"fine"]
  assert "has no 'sentence' column; reading its only other column 'content'" in caplog.text


def test_glue_cola_tsvs_without_a_header_row(tmp_path):
  (tmp_path / "train.tsv").write_text("gj04\t1\t\tThe book was read.\ngj04\t0\t*\tBook the read was.\n")
  (tmp_path / "dev.tsv").write_text("gj04\t1\t\tShe left.\n")
  from tfsft.tasks import TASKS
  data = TASKS.get("glue/cola")(DataConfig(data_path=str(tmp_path))).load_data(
      DataConfig(data_path=str(tmp_path)), seed=0)
  assert [(t.decode(), int(y)) for t, y in data.train.as_numpy_iterator()] == [
      ("The book was read.", 1), ("Book the read was.", 0)]
  assert data.label_names == ("unacceptable", "acceptable")


def test_glue_mnli_scores_both_dev_sets(tmp_path):
  header = "index\tsentence1\tsentence2\tgold_label\n"
  (tmp_path / "train.tsv").write_text(header + "0\tA man.\tA person.\tentailment\n"
                                      "1\tA dog.\tA cat.\tcontradiction\n2\tA.\tB.\tneutral\n")
  (tmp_path / "dev_matched.tsv").write_text(header + "0\tA man.\tA person.\tentailment\n")
  (tmp_path / "dev_mismatched.tsv").write_text(header + "0\tX.\tY.\tneutral\n")
  from tfsft.tasks import TASKS
  config = DataConfig(data_path=str(tmp_path))
  data = TASKS.get("glue/mnli")(config).load_data(config, seed=0)
  assert set(data.evaluation_splits()) == {"validation", "validation_mismatched"}
  ((first, second), label), = data.evaluation_splits()["validation_mismatched"].as_numpy_iterator()
  assert (first, second, int(label)) == (b"X.", b"Y.", 1)  # neutral

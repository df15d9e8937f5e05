"""squad through the CLI on tiny SQuAD JSON the tests write: v1.1 and v2.0 training with the
official scores, an export that answers (question, context) in a fresh process, and the errors a
SQuAD file or flag can cause."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli, served_tolerance
from tfsft.model_dir import load_trained_model
from tfsft.serving.servability import check_servable
from tiny_assets import squad_document

WINDOWS = ["--max_seq_length=32", "--max_query_length=8", "--doc_stride=8"]
QUESTIONS = ["Where did Dave go?", "Where did Alice go?", "Where did Bob go?"]
CONTEXTS = ["Bob met Alice in Rome. Dave visited Berlin today.",
            # Longer than one window, with a two-byte letter before the answer. Only words of the
            # tiny vocabulary: what a tiny model does with [UNK] differs between machines.
            "Déjà, Carol met Bob today. Bob met Carol today. Alice visited London today. "
            "Bob met Dave today. Carol met Bob today.",
            ""]


def _train(root, document, *flags, tiny_bert):
  path = root / "squad.json"
  path.write_text(json.dumps(document, indent=1))
  process = assert_ok(run_cli(
      "tfsft.train", "--task=squad", "--model=bert", f"--init_checkpoint={tiny_bert}",
      f"--data_path={path}", *WINDOWS, "--batch_size=16", "--learning_rate=5e-3",
      f"--model_dir={root / 'model'}", f"--export_dir={root / 'export'}", *flags))
  with open(root / "model" / "eval_results.json") as handle:
    results = json.load(handle)
  return re.search(r"SavedModel: (\S+)", process.stdout).group(1), results


@pytest.fixture(scope="module")
def squad_v1(tiny_bert, tmp_path_factory):
  root = tmp_path_factory.mktemp("squad_v1")
  return (root, *_train(root, squad_document(300), "--train_steps=150", tiny_bert=tiny_bert))


def test_v1_scores_with_the_official_script(squad_v1):
  _, _, results = squad_v1
  assert set(results["validation"]) == {"examples", "exact_match", "f1"}
  assert results["validation"]["exact_match"] > 60  # percent, as SQuAD results are quoted


def test_export_answers_with_character_offsets(squad_v1):
  root, export, _ = squad_v1
  report = check_servable(export, {"question": QUESTIONS, "context": CONTEXTS})  # fresh process
  assert report["problems"] == []
  served = report["signatures"]["serving_default"]
  # Which city a tiny model picks varies between machines (test_v1_scores_... checks how often it
  # is right); what must hold for any model is that the offsets cut the answer out of the context.
  assert all(served["answer"][:2]), served
  for context, answer, start, end in zip(CONTEXTS, served["answer"], served["answer_start"],
                                         served["answer_end"]):
    assert context[start:end] == answer if answer else start == end == -1
  assert served["answer"][2] == "" and served["score"][2] == 0.0  # no context, no answer
  # The second context needs two windows: `tokenize` returns one row per window.
  assert report["signatures"]["tokenize"]["window_question"] == [0, 1, 1, 2]

  run = load_trained_model(str(root / "model"))
  # Traced, as in the SavedModel: keras-hub tokenizers return Python lists when run eagerly.
  in_memory = tf.function(lambda q, c: run.task.predict_text(run.model, run.encoder, (q, c), ()))(
      tf.constant(QUESTIONS), tf.constant(CONTEXTS))
  assert [a.decode() for a in in_memory["answer"].numpy()] == served["answer"]
  np.testing.assert_allclose(in_memory["score"].numpy(), served["score"],
                             atol=served_tolerance(run))

  rows = root / "questions.jsonl"
  rows.write_text("".join(json.dumps({"question": q, "context": c}) + "\n"
                          for q, c in zip(QUESTIONS[:2], CONTEXTS[:2])))
  predicted = assert_ok(run_cli("tfsft.predict", f"--saved_model={export}", f"--input_file={rows}"))
  assert [json.loads(line)["answer"] for line in predicted.stdout.splitlines()] == served["answer"][:2]


def test_v2_learns_to_abstain(tiny_bert, tmp_path):
  _, results = _train(tmp_path, squad_document(300, unanswerable=0.3), "--train_steps=100",
                      "--version_2_with_negative", tiny_bert=tiny_bert)
  validation = results["validation"]
  assert {"HasAns_exact_match", "NoAns_exact_match", "f1"} <= set(validation)
  assert validation["NoAns_exact_match"] > 50


@pytest.mark.parametrize("flags,fault,message", [
    ([], "offset", "line {line}: question 'q1' has answer"),
    ([], "unanswerable", "has unanswerable questions (SQuAD 2.0), e.g. 'q"),
    (["--doc_stride=30"], None, "--doc_stride=30 must be between 1 and the context room"),
    (["--max_query_length=40"], None, "leaves no room for context"),
])
def test_bad_squad_input_fails_cleanly(tiny_bert, tmp_path, flags, fault, message):
  document = squad_document(20, unanswerable=0.5 if fault == "unanswerable" else 0.0)
  if fault == "offset":
    document["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] += 1
  path = tmp_path / "squad.json"
  path.write_text(json.dumps(document, indent=1))
  line = next(n for n, text in enumerate(open(path), 1) if '"q1"' in text)
  process = run_cli("tfsft.train", "--task=squad", "--model=bert", f"--init_checkpoint={tiny_bert}",
                    f"--data_path={path}", *WINDOWS, f"--model_dir={tmp_path / 'model'}", *flags)
  assert process.returncode != 0 and "Traceback" not in process.stderr
  errors = [line for line in process.stderr.splitlines() if line.startswith("tfsft: error:")]
  assert len(errors) == 1 and message.format(line=line) in errors[0], process.stderr[-800:]
  assert not (tmp_path / "model").exists()

"""The generative SFT pipeline from the command line: `pipelines.run
--pipeline=instruction_tuning_causal_lm` on chat records with a tiny Llama GGUF (ChatML template,
tests/tiny_gguf.py). Conversations stored as `messages` in TFX's layout, the Trainer tuning the
causal LM on them, the Evaluator scoring generation and reference perplexity through the export's
signatures, InfraValidator's fresh-process check of every causal-LM signature, the push, and a
rerun whose comparison with the served model fails and pushes nothing."""

import collections
import glob
import json
import os

import pytest

from conftest import assert_ok, run_cli
from pipelines import metadata
from tfsft.data import instructions, tfx_examples
from tiny_gguf import conversations, write_chat_llama

pytestmark = pytest.mark.heavy

PipelineRun = collections.namedtuple("PipelineRun", "root serving args stdout chats")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("sft_pipeline")
  chats = folder / "chats.jsonl"
  chats.write_text("".join(json.dumps(row) + "\n" for row in conversations()), encoding="utf-8")
  args = ["--pipeline=instruction_tuning_causal_lm", f"--pipeline_root={folder}/root",
          f"--serving_dir={folder}/serving", f"--data_path={chats}",
          f"--init_checkpoint={write_chat_llama(str(folder / 'tiny.gguf'))}",
          "--train_steps=30", "--batch_size=8", "--max_seq_length=48", "--max_new_tokens=4",
          "--learning_rate=3e-3", "--warmup_ratio=0", "--eval_generate_examples=4"]
  process = assert_ok(run_cli("pipelines.run", *args))
  return PipelineRun(str(folder / "root"), str(folder / "serving"), args, process.stdout,
                     str(chats))


def _uri(root, component, output):
  folders = sorted(glob.glob(os.path.join(root, component, output, "*")),
                   key=lambda path: int(os.path.basename(path)))
  return folders[-1]


def _report(root):
  with open(os.path.join(_uri(root, "Evaluator", "evaluation"), "metrics.json")) as handle:
    return json.load(handle)


def test_conversations_are_stored_as_messages_and_trained_on(first_run):
  examples = _uri(first_run.root, "ExampleGen", "examples")
  stored = [conversation for split in tfx_examples.split_names(examples) for conversation in
            instructions.read_file(tfx_examples.split_dir(examples, split)).conversations]
  assert sorted(map(json.dumps, stored)) == sorted(
      json.dumps(row["messages"]) for row in conversations())
  with metadata.open_store(first_run.root) as store:
    model_run = store.artifacts("ModelRun")[-1]
  # The Trainer's own validation: the loss on the held-out answers, and its generation scores.
  assert {"loss", "perplexity", "generated_rouge_l"} <= set(model_run.properties["validation"])
  assert model_run.properties["step"] == 30


def test_generation_is_scored_through_the_export_and_the_model_pushed(first_run):
  import tensorflow as tf
  import tensorflow_text  # noqa: F401
  report = _report(first_run.root)
  overall = report["overall"]
  assert {"exact_match", "bleu", "rouge_l", "reference_perplexity"} <= set(overall)
  # 30 steps teach the tiny model the one-letter answers: far likelier than its random start
  # (the vocabulary has about 300 tokens).
  assert overall["reference_perplexity"] < 100
  assert sum(metrics["examples"] for metrics in report["slices"].values()) == overall["examples"]
  assert report["samples"] and {"prompt", "reference", "generated"} <= set(report["samples"][0])
  assert report["blessed"] and "baseline" not in report
  assert f"Pushed: {first_run.serving}/1" in first_run.stdout
  with open(os.path.join(_uri(first_run.root, "InfraValidator", "infra_blessing"),
                         "report.json")) as handle:
    infra = json.load(handle)
  assert infra["servability"]["problems"] == []
  assert {"serving_default", "generate", "score", "tokenize"} <= set(
      infra["servability"]["signatures"])
  served = tf.saved_model.load(os.path.join(first_run.serving, "1")).signatures
  completion = served["serving_default"](prompt=tf.constant(["a 99"]))["completion"].numpy()
  assert completion.shape == (1,) and completion[0]


def test_a_rerun_that_does_not_beat_the_served_model_pushes_nothing(first_run):
  process = assert_ok(run_cli("pipelines.run", *first_run.args,
                              "--eval_min_change=reference_perplexity:1000"))
  assert "Not pushed: reference_perplexity" in process.stdout
  assert "against the served model's" in process.stdout
  report = _report(first_run.root)
  # The same cached model against itself, now served as version 1.
  assert report["baseline"]["overall"]["reference_perplexity"] == pytest.approx(
      report["overall"]["reference_perplexity"])
  assert os.listdir(first_run.serving) == ["1"]
  lineage = assert_ok(run_cli("pipelines.lineage", f"--pipeline_root={first_run.root}")).stdout
  assert "local files train=" + first_run.chats in lineage

"""How a task's examples are stored as tf.Example features, read back by the Trainer, and sent to
the exported model: one kind per family of tasks the pipelines run.

  labeled_text    `text` (and `text_pair`) + `label` (the class name, or the number for
                  regression): imdb, glue/*, text_classification. The Trainer reads them as
                  text_classification files; the Evaluator scores a classifier.
  tagged_words    `tokens` and `tags` (one value per word; the tag names): conll2003,
                  token_classification. The Trainer reads them as token_classification data;
                  the Evaluator scores entities (seqeval) from the export's character spans.
  questions       `question`, `context`, and the reference answers as `answer_text` (bytes) and
                  `answer_start` (character offsets; both empty for an unanswerable question):
                  squad, as TFDS lays SQuAD out. The Trainer reads them as squad data; the
                  Evaluator scores answers with the official SQuAD scripts.
  conversations   `messages`: a JSON list of {role, content} (TRL's conversational format), one
                  conversation per example: instruction_tuning, from instruction files or any
                  task's pairs (--text_from_task, --prompt_template). The Trainer reads them as
                  instruction_tuning data; the Evaluator scores generation.

ExampleGen records the kind's name with the Examples artifact (`example_kind`), so the components
after it need not know the task.
"""

import dataclasses
import json
from typing import Dict, List, Sequence

from tfsft.data import squad, tables
from tfsft.errors import UserError


class Int64s(list):
  """Marks a feature's values as integers for ExampleGen (bytes, lists of bytes and floats are
  written as what they are)."""


class _Kind:
  optional_features = ()  # features an example may leave empty (SchemaGen requires the others)

  def trainer_data(self, data, properties):
    """The Trainer's DataConfig for reading the Examples artifact: its task reads Split-*
    folders of these features as they are."""
    return data


class _OneValuePerFeature(_Kind):
  """Kinds whose features hold one value each (a text, a class name, a number)."""

  def read_rows(self, split_dir: str, properties) -> List[dict]:
    """{feature: value} of every example of a Split-* folder."""
    names = [*properties["input_names"]]
    if properties["label_feature"]:
      names.append(properties["label_feature"])
    values, _ = tables.read_columns(split_dir, names)
    return [dict(zip(values, row)) for row in zip(*values.values())]


class LabeledText(_OneValuePerFeature):
  name = "labeled_text"
  trainer_task = "text_classification"
  label_feature = "label"

  def feature_names(self, task) -> List[str]:
    return [*task.input_names, self.label_feature]

  def text_features(self, task) -> List[str]:
    return list(task.input_names)

  def features(self, task, inputs, target, label_names) -> Dict[str, object]:
    """name -> bytes or float of one raw (inputs, target) example of `task`."""
    texts = inputs if isinstance(inputs, tuple) else (inputs,)
    values = dict(zip(task.input_names, texts))
    values[self.label_feature] = (label_names[int(target)].encode("utf-8") if label_names
                                  else float(target))
    return values

  def trainer_data(self, data, properties):
    # text_classification reads files by column: name the Examples' features.
    return dataclasses.replace(
        data, text_column="text", label_column=self.label_feature,
        text_pair_column="text_pair" if "text_pair" in properties["input_names"] else None,
        regression=not properties["label_names"])

  def serving_inputs(self, properties) -> List[str]:
    return list(properties["input_names"])

  def requests(self, rows: Sequence[dict], properties) -> Dict[str, list]:
    """serving_default's inputs for eval rows (the Examples' features by name)."""
    return {name: [row[name] for row in rows] for name in properties["input_names"]}


class _ListFeatures(_Kind):
  """Kinds whose features may hold several values (words, tags, answers)."""

  def read_rows(self, split_dir: str, properties) -> List[dict]:
    """{feature: [values]} of every example of a Split-* folder."""
    return [row for _, row in tables.example_rows(split_dir, all_values=True)]


class TaggedWords(_ListFeatures):
  name = "tagged_words"
  trainer_task = "token_classification"
  label_feature = "tags"
  feature = "tokens"

  def feature_names(self, task) -> List[str]:
    return [self.feature, self.label_feature]

  def text_features(self, task) -> List[str]:
    return [self.feature]

  def features(self, task, inputs, target, label_names) -> Dict[str, object]:
    # tfsft's CoNLL examples are space-joined words and tag ids (data/conll.py).
    return {self.feature: inputs.split(b" "),
            self.label_feature: [label_names[int(i)].encode("utf-8") for i in target.split()]}

  def serving_inputs(self, properties) -> List[str]:
    return ["text"]

  def requests(self, rows: Sequence[dict], properties) -> Dict[str, list]:
    """Each sentence's words joined by single spaces: the text whose character offsets the
    export's entities index."""
    return {"text": [" ".join(row[self.feature]) for row in rows]}


class Questions(_ListFeatures):
  name = "questions"
  trainer_task = "squad"
  label_feature = None  # answers are texts, not classes: no domain and no drift comparator
  optional_features = ("answer_text", "answer_start")  # SQuAD 2.0's unanswerable questions

  def feature_names(self, task) -> List[str]:
    return ["question", "context", "answer_text", "answer_start"]

  def text_features(self, task) -> List[str]:
    return ["question", "context", "answer_text"]

  def features(self, task, inputs, target, label_names) -> Dict[str, object]:
    # tfsft's SQuAD examples carry "start:end ..." byte offsets of the answers (data/squad.py).
    question, context = inputs
    texts, starts = [], Int64s()
    for low, high in squad.answer_byte_spans(target):
      texts.append(context[low:high])
      starts.append(len(context[:low].decode("utf-8")))
    return {"question": question, "context": context, "answer_text": texts,
            "answer_start": starts}

  def serving_inputs(self, properties) -> List[str]:
    return ["question", "context"]

  def requests(self, rows: Sequence[dict], properties) -> Dict[str, list]:
    return {name: [row[name][0] for row in rows] for name in ("question", "context")}


class Conversations(_OneValuePerFeature):
  name = "conversations"
  trainer_task = "instruction_tuning"
  label_feature = None
  feature = "messages"

  def feature_names(self, task) -> List[str]:
    return [self.feature]

  def text_features(self, task) -> List[str]:
    return [self.feature]

  def features(self, task, inputs, target, label_names) -> Dict[str, object]:
    from tfsft.data.causal_lm_examples import decode_conversation
    messages, _ = decode_conversation(inputs)
    return {self.feature: json.dumps(messages, ensure_ascii=False).encode("utf-8")}

  def serving_inputs(self, properties) -> List[str]:
    return ["prompt"]

  def requests(self, rows: Sequence[dict], properties) -> Dict[str, list]:
    """What a TF Serving client sends the export (serving_default: one user message): each
    conversation's last user message before its final answer, that answer as the `score`
    signature's completion, and greedy decoding settings for `generate` (a few tokens: the
    check is that it answers, not what)."""
    prompts, references = zip(*(prompt_and_reference(row[self.feature]) for row in rows))
    return {"prompt": list(prompts), "completion": list(references), "max_new_tokens": 16,
            "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": 0}


def prompt_and_reference(messages_json: str):
  """(the last user message, the assistant's answer to it) of a stored conversation."""
  messages = json.loads(messages_json)
  last_answer = max(i for i, message in enumerate(messages) if message["role"] == "assistant")
  users = [message["content"] for message in messages[:last_answer] if message["role"] == "user"]
  return (users[-1] if users else ""), messages[last_answer]["content"]


KINDS = {kind.name: kind for kind in (LabeledText(), TaggedWords(), Questions(), Conversations())}
# task name -> kind; tasks whose examples are labeled texts are recognised by their base class.
_BY_TASK = {"instruction_tuning": "conversations", "conll2003": "tagged_words",
            "token_classification": "tagged_words", "squad": "questions"}


def for_task(task):
  """The kind of a tfsft task's examples, or a UserError naming the tasks pipelines run."""
  from tfsft.tasks.classification import ClassificationTask
  from tfsft.tasks.regression import RegressionTask
  if task.name in _BY_TASK:
    return KINDS[_BY_TASK[task.name]]
  if isinstance(task, (ClassificationTask, RegressionTask)):
    return KINDS["labeled_text"]
  raise UserError(f"pipelines do not read --task={task.name}'s examples yet: run labeled-text "
                  "tasks (imdb, glue/*, text_classification), conll2003 / token_classification, "
                  "squad or instruction_tuning")


def of(properties: dict):
  """The kind ExampleGen recorded in an Examples artifact's properties."""
  return KINDS[properties["example_kind"]]

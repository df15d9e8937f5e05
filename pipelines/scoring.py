"""How the Evaluator scores a SavedModel on eval rows, per kind of examples (example_kinds.py):
metrics overall and per slice, through the signatures a TF Serving client calls.

  labeled_text    classification metrics (accuracy, F1, ROC AUC, log loss, ...) from
                  serving_default's class scores; slices by true label and text length
  tagged_words    entity precision, recall and F1 (seqeval, overall and per type) of
                  serving_default's character-offset entities mapped back onto the words;
                  slices by sentence length
  questions       exact match and F1 (the official SQuAD scripts; 2.0's when the split has
                  unanswerable questions) of serving_default's answers; slices by context length
                  and answerability
  conversations   generation metrics (exact match, BLEU, ROUGE-L) of serving_default's greedy
                  completion of each conversation's last user message against its answer, and
                  the perplexity of the answer itself under the `score` signature; slices by
                  prompt length

Each scorer also names its headline metric (per-slice TensorBoard scalars), the comparison with
the served model a pipeline makes by default, and the floor any blessed model must clear.
"""

import math
from typing import Dict, List, Sequence

import numpy as np

from pipelines import example_kinds
from tfsft.errors import UserError

# Metrics where a smaller value is the better model.
LOWER_IS_BETTER = ("log_loss", "reference_perplexity")


def length_slices(texts: Sequence[str], name: str,
                  length_buckets: Sequence[int]) -> Dict[str, list]:
  """"<name>=low-high" (in words) -> the indices of the texts in it."""
  slices = {}
  edges = [0, *length_buckets, None]
  for index, text in enumerate(texts):
    words = len(text.split())
    for low, high in zip(edges, edges[1:]):
      if high is None or words < high:
        slices.setdefault(f"{name}={low}-{high or 'inf'}", []).append(index)
        break
  return slices


def served_answers(saved_model, rows, properties, batch_size):
  """(the requests made of the rows, serving_default's answer to each row, in order)."""
  from tfsft.serving import batch_predictions
  requests = example_kinds.of(properties).requests(rows, properties)
  inputs = [dict(zip(requests, values)) for values in zip(*requests.values())]
  return requests, list(batch_predictions.predict(
      saved_model, ("eval split", list(enumerate(inputs, 1))), batch_size))


class ClassificationScorer:
  slice_metric = "accuracy"
  default_min_change = {"accuracy": 0.0}

  def scores(self, saved_model, rows, properties, parameters) -> dict:
    from tfsft.metrics.classification import classification_metrics
    _, answers = served_answers(saved_model, rows, properties, parameters["batch_size"])
    names = list(properties["label_names"])
    if list(answers[0]["scores"]) != names:
      raise UserError(f"{saved_model} answers classes {list(answers[0]['scores'])}, the data has "
                      f"{names}: evaluate a model trained on these labels")
    probabilities = np.array([[answer["scores"][name] for name in names] for answer in answers])
    label = properties["label_feature"]
    labels = np.array([names.index(row[label]) for row in rows])
    slices = {}
    for index, row in enumerate(rows):
      slices.setdefault(f"{label}={row[label]}", []).append(index)
    slices.update(length_slices([row[properties["input_names"][0]] for row in rows],
                                "text_words", parameters["length_buckets"]))
    return {"overall": classification_metrics(labels, probabilities, names),
            "slices": {name: classification_metrics(labels[members], probabilities[members], names)
                       for name, members in sorted(slices.items())
                       for members in [np.array(members)]}}

  def floor_reasons(self, overall, rows, properties) -> List[str]:
    """A classifier must beat always answering the most common label."""
    labels = [row[properties["label_feature"]] for row in rows]
    common = max(set(labels), key=labels.count)
    majority = labels.count(common) / len(labels)
    if overall["accuracy"] <= majority:
      return [f"accuracy {overall['accuracy']:.4f} does not beat always answering {common!r} "
              f"({majority:.4f})"]
    return []


class EntityScorer:
  slice_metric = "entity_f1"
  default_min_change = {"entity_f1": 0.0}

  def scores(self, saved_model, rows, properties, parameters) -> dict:
    from tfsft.metrics.entities import entity_metrics
    requests, answers = served_answers(saved_model, rows, properties, parameters["batch_size"])
    texts = requests["text"]
    predicted = [word_tags(row["tokens"], answer["entities"]) for row, answer in zip(rows, answers)]
    true = [row["tags"] for row in rows]
    slices = length_slices(texts, "sentence_words", parameters["length_buckets"])
    return {"overall": entity_metrics(true, predicted),
            "slices": {name: entity_metrics([true[i] for i in members],
                                            [predicted[i] for i in members])
                       for name, members in sorted(slices.items())}}

  def floor_reasons(self, overall, rows, properties) -> List[str]:
    if overall["entity_f1"] == 0:
      return ["entity_f1 is 0: the model finds none of the entities"]
    return []


def word_tags(words: Sequence[str], entities: Sequence[dict]) -> List[str]:
  """BIO tags of the words of `" ".join(words)` from entities given as character spans: a word
  inside an entity's span takes its type (B- for the first such word)."""
  spans, start = [], 0
  for word in words:
    spans.append((start, start + len(word)))
    start += len(word) + 1
  tags = ["O"] * len(words)
  for entity in entities:
    inside = [i for i, (low, high) in enumerate(spans)
              if low >= entity["start"] and high <= entity["end"]]
    for position, i in enumerate(inside):
      tags[i] = ("B-" if position == 0 else "I-") + entity["type"]
  return tags


class AnswerScorer:
  slice_metric = "f1"
  default_min_change = {"f1": 0.0}

  def scores(self, saved_model, rows, properties, parameters) -> dict:
    from tfsft.metrics.squad import squad_scores
    requests, served = served_answers(saved_model, rows, properties, parameters["batch_size"])
    answers = [answer["answer"] for answer in served]
    references = [row.get("answer_text", []) for row in rows]
    version_2 = not all(references)
    slices = length_slices(requests["context"], "context_words", parameters["length_buckets"])
    if version_2:
      for index, reference in enumerate(references):
        slices.setdefault(f"answerable={'yes' if reference else 'no'}", []).append(index)
    return {"overall": squad_scores(answers, references, version_2),
            "slices": {name: squad_scores([answers[i] for i in members],
                                          [references[i] for i in members], version_2)
                       for name, members in sorted(slices.items())}}

  def floor_reasons(self, overall, rows, properties) -> List[str]:
    if overall["f1"] == 0:
      return ["f1 is 0: no answer overlaps its reference"]
    return []


class GenerationScorer:
  slice_metric = "rouge_l"
  default_min_change = {"reference_perplexity": 0.0}

  def scores(self, saved_model, rows, properties, parameters) -> dict:
    import tensorflow as tf
    from tfsft.metrics.generation import generation_scores
    from tfsft.serving.loading import load_signatures
    signatures = load_signatures(saved_model, ["serving_default", "score"],
                                 "a causal LM exported by tfsft", named=f"the model {saved_model}")
    requests = example_kinds.of(properties).requests(rows, properties)
    prompts, references = requests["prompt"], requests["completion"]
    predictions, log_likelihoods, tokens = [], [], []
    batch = parameters["batch_size"]
    for start in range(0, len(prompts), batch):
      prompt = tf.constant(prompts[start:start + batch])
      completions = signatures["serving_default"](prompt=prompt)["completion"].numpy()
      predictions += [text.decode("utf-8") for text in completions]
      scored = signatures["score"](prompt=prompt,
                                   completion=tf.constant(references[start:start + batch]))
      log_likelihoods += scored["log_likelihood"].numpy().reshape(-1).tolist()
      tokens += scored["num_tokens"].numpy().reshape(-1).tolist()

    def metrics(members):
      chosen_tokens = sum(tokens[i] for i in members)
      return {**generation_scores([predictions[i] for i in members],
                                  [references[i] for i in members]),
              "reference_perplexity": math.exp(-sum(log_likelihoods[i] for i in members)
                                               / max(chosen_tokens, 1)),
              "reference_tokens": int(chosen_tokens), "examples": len(members)}

    slices = length_slices(prompts, "prompt_words", parameters["length_buckets"])
    return {"overall": metrics(range(len(prompts))),
            "slices": {name: metrics(members) for name, members in sorted(slices.items())},
            "samples": [{"prompt": p, "reference": r, "generated": g}
                        for p, r, g in list(zip(prompts, references, predictions))[:8]]}

  def floor_reasons(self, overall, rows, properties) -> List[str]:
    return []  # no trivial model to beat: thresholds and the served model decide


SCORERS = {"labeled_text": ClassificationScorer(), "tagged_words": EntityScorer(),
           "questions": AnswerScorer(), "conversations": GenerationScorer()}

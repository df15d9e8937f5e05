"""The SavedModel's signatures, on a `keras.export.ExportArchive`.

Keras 3's `model.export()` renames outputs to output_0 and, for keras-hub tasks, takes token ids
(keras-hub#784); an ExportArchive keeps our names and lets tokenization run inside the graph, so
clients send raw strings. Signatures:

  serving_default    the task's string [batch] inputs (text; text and text_pair for pair tasks;
                     question and context for squad) -> the task's outputs (classification:
                     scores, classes, label; regression: score; translation: translation; NER:
                     entities and per-word tags; squad: answer, its offsets and score)
  tokenize           the same inputs -> int32 features (token_ids, ...) as training saw them,
                     padded to --max_seq_length (training and serving_default cut a batch to
                     its longest row; the model masks padding either way). NER adds the words;
                     squad returns one row per context window
  predict_token_ids  features -> the task's per-token outputs, for clients that tokenize
                     themselves (NER: a tag per word-piece; squad: start and end logits)
  + the task's extras (classification: `classify` for TF Serving's Classify API)

Causal LMs (instruction_tuning, language_modeling) have their own set: prompt -> completion,
`generate` with per-request settings, `generate_token_ids`, `score` and `tokenize`
(tasks/causal_language_modeling.py, `serving_endpoints`).
"""

import keras
import tensorflow as tf


def build_archive(model: keras.Model, encoder, task, label_names) -> keras.export.ExportArchive:
  """The task's endpoints (`Task.serving_endpoints`) on one archive."""
  archive = keras.export.ExportArchive()
  # Track what the graph needs (lookup tables) but not the model: the endpoints capture the
  # model's tf.Variables themselves, and track(model) would add the Keras wrappers of the same
  # weights, which TF saves a second time (keras-team/keras#23553: a 2x SavedModel and 2x weight
  # memory in TF Serving).
  for trackable in task.serving_trackables(encoder):
    archive.track(trackable)
  for name, (function, input_signature) in task.serving_endpoints(model, encoder,
                                                                  label_names).items():
    endpoint = archive.add_endpoint(name, function, input_signature=input_signature)
    # tf.saved_model.save traces a tf.function again inside its save context (the trace cache
    # key holds the SaveOptions' variable policy), so every endpoint was traced twice: SmolLM2's
    # export took 150 s, 72 s like this. A concrete function is saved as it was traced.
    setattr(archive._tf_trackable, name,  # pylint: disable=protected-access
            endpoint.get_concrete_function())
  return archive


def text_task_endpoints(model: keras.Model, encoder, task, label_names) -> dict:
  """serving_default, tokenize and predict_token_ids of a task on a TextEncoder, + its extras."""

  def tokenize(*texts):
    return task.text_features(encoder, texts)

  def predict_text(*texts):
    return task.predict_text(model, encoder, texts, label_names)

  feature_specs = [tf.TensorSpec([None, None], tf.int32, name=name) for name in encoder.feature_names]

  def predict_token_ids(*features):
    return task.predict(model, encoder, dict(zip(encoder.feature_names, features)), label_names)

  text_specs = [tf.TensorSpec([None], tf.string, name=name) for name in task.input_names]
  return {"serving_default": (predict_text, text_specs), "tokenize": (tokenize, text_specs),
          "predict_token_ids": (predict_token_ids, feature_specs),
          **task.extra_signatures(predict_text, label_names)}

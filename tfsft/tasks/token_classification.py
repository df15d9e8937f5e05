"""Token classification on BERT's sequence output: `conll2003` (NER) and `token_classification`
(CoNLL files with any tag set).

Run (the real CoNLL-2003 train/valid files and the MiniLM checkpoint):
  python -m tfsft.train --task=conll2003 --model=bert \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --data_path=../shared/data/conll2003 \
      --max_seq_length=64 --batch_size=32 --num_epochs=3 --learning_rate=1e-4 \
      --model_dir=runs/conll
Expected: valid entity F1 about 0.90 in about 20 minutes on 2 CPU cores; 0.87 after one epoch
(docs/benchmarks.md has the runs and published numbers). Without --data_path, conll2003 reads
TFDS `conll2003` (online).

Each word's tag goes to its first word-piece; the other pieces are left out of loss and metrics
(models/word_pieces.py). Evaluation reads the tags back per word and scores entities with seqeval
(precision / recall / F1, overall and per type). Words cut off by --max_seq_length count as `O`.

Serving: `text` (one sentence per string) is split into words at whitespace and punctuation, which
matches CoNLL's tokenization for most text, and returns padded tensors per sentence:
  entity_text, entity_type (string [batch, max entities]; "" as padding),
  entity_start, entity_end (int32 character offsets, end exclusive; -1 as padding),
  entity_score (float32: the mean tag probability over the entity's words; 0 as padding),
  entity_count (int32 [batch]), words and tags (string [batch, max words]; "" as padding).
"""

import keras
import tensorflow as tf

from tfsft.data import conll, pipeline
from tfsft.data.tag_scheme import OUTSIDE, find_spans, span_mean
from tfsft.metrics.entities import entity_metrics
from tfsft.metrics.token_accuracy import MaskedTokenAccuracy
from tfsft.models.word_pieces import (IGNORED_LABEL, encode_words, piece_labels, split_words,
                                      word_values)
from tfsft.tasks.base import Task

_EVALUATION_BATCH = 64


class TokenClassificationTask(Task):
  name = "token_classification"
  needs_word_pieces = True
  scores_raw_examples = True  # tags are read back per word
  # Measured on CoNLL-2003 (docs/benchmarks.md): the loss is a mean over each batch's tokens, so
  # grouped batches of short lines (headlines, tables) weigh as much as batches of long
  # sentences; LoRA lost 2.6 F1 and full fine-tuning 0.9 to grouping.
  default_group_by_length = False
  tfds_name = None  # local CoNLL files only
  _tagger = None  # (model, tf.function of _word_tags): traced once, reused by every evaluation

  def load_data(self, config, seed):
    return conll.load(config, seed, tfds_name=self.tfds_name and (config.tfds_name or self.tfds_name))

  def model_inputs(self, encoder, text, target):
    encoded = encode_words(encoder.preprocessor.tokenizer, tf.strings.split(text),
                           encoder.preprocessor.sequence_length)
    word_tags = tf.strings.to_number(tf.strings.split(target), tf.int32)
    return encoded.features, piece_labels(encoded.first_piece, word_tags,
                                          encoder.preprocessor.sequence_length)

  def build_model(self, encoder, config, label_names):
    inputs = encoder.inputs()
    sequence = encoder.backbone(inputs)["sequence_output"]
    sequence = keras.layers.Dropout(config.dropout, name="head_dropout")(sequence)
    # float32 logits even under mixed precision: softmax and the loss need the range.
    logits = keras.layers.Dense(len(label_names), dtype="float32", name="tag_logits")(sequence)
    return keras.Model(inputs, logits, name=f"{self.name}_tagger")

  def loss(self):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORED_LABEL)

  def training_metrics(self):
    return [MaskedTokenAccuracy(IGNORED_LABEL, name="word_accuracy")]

  def evaluate(self, model, encoder, split, label_names):
    if self._tagger is None or self._tagger[0] is not model:
      self._tagger = (model, tf.function(
          lambda words: self._word_tags(model, encoder, words, len(label_names)),
          reduce_retracing=True))
    names = list(label_names) + [OUTSIDE]  # the last: words with no piece in the sequence
    predicted = []
    for text, _ in split.examples.batch(_EVALUATION_BATCH):
      tags, _ = self._tagger[1](tf.strings.split(text))
      predicted += [[names[i] for i in sentence] for sentence in tags.to_list()]
    true = [[names[int(i)] for i in sentence.split()] for sentence in split.targets]
    return entity_metrics(true, predicted)

  def text_summaries(self, results, label_names):
    types = sorted(key.split("/", 1)[1] for key in results if key.startswith("entity_f1/"))
    rows = [f"| {t} | {results[f'entity_precision/{t}']:.3f} | {results[f'entity_recall/{t}']:.3f}"
            f" | {results[f'entity_f1/{t}']:.3f} | {results[f'entities/{t}']} |" for t in types]
    return {"eval/entities": "\n".join(
        ["| type | precision | recall | F1 | entities |", "|---|---|---|---|---|"] + rows)}

  def text_features(self, encoder, texts):
    words, _, _ = split_words(texts[0])
    encoded = encode_words(encoder.preprocessor.tokenizer, words,
                           encoder.preprocessor.sequence_length)
    return {**encoded.features, "words": words.to_tensor(""),
            "first_piece": encoded.first_piece.to_tensor(-1)}

  def predict_text(self, model, encoder, texts, label_names):
    text = texts[0]
    words, byte_starts, byte_ends = split_words(text)
    tags, scores = self._word_tags(model, encoder, words, len(label_names))
    tag_names = list(label_names) + [OUTSIDE]
    spans = find_spans(tags, tag_names)
    first, last = spans.first_word.flat_values, spans.last_word.flat_values
    sentence = tf.gather(text, spans.first_word.value_rowids())
    byte_start = tf.gather(byte_starts.flat_values, first)
    byte_end = tf.gather(byte_ends.flat_values, last)
    # Clients index strings by character, not byte: count the characters before each offset.
    characters = lambda offset: tf.strings.length(
        tf.strings.substr(sentence, tf.zeros_like(offset), offset), unit="UTF8_CHAR")
    per_entity = spans.first_word.with_flat_values
    return {
        "entity_text": per_entity(
            tf.strings.substr(sentence, byte_start, byte_end - byte_start)).to_tensor(""),
        "entity_type": spans.type_name.to_tensor(""),
        "entity_start": per_entity(characters(byte_start)).to_tensor(-1),
        "entity_end": per_entity(characters(byte_end)).to_tensor(-1),
        "entity_score": span_mean(scores.flat_values, spans).to_tensor(0.0),
        "entity_count": tf.cast(spans.first_word.row_lengths(), tf.int32),
        "words": words.to_tensor(""),
        "tags": tf.gather(tf.constant(tag_names), tags).to_tensor(""),
    }

  def predict(self, model, encoder, features, label_names):
    """Token ids in, a tag per word-piece out (for clients that tokenize themselves)."""
    probabilities = tf.nn.softmax(tf.cast(model(features, training=False), tf.float32), axis=-1)
    return {"token_tags": tf.gather(tf.constant(list(label_names)), tf.argmax(probabilities, -1)),
            "token_scores": tf.reduce_max(probabilities, axis=-1)}

  def _word_tags(self, model, encoder, words, outside_id):
    """Words -> (tag id, its probability) per word, ragged; words without a piece in the sequence
    get `outside_id` (the extra OUTSIDE name) and probability 0."""
    encoded = encode_words(encoder.preprocessor.tokenizer, words,
                           encoder.preprocessor.sequence_length)
    features = {name: encoded.features[name] for name in encoder.feature_names}
    # Every word's first piece lies within the longest row, so cutting keeps them all.
    features = pipeline.cut_to_longest(encoder.real_tokens(features), features,
                                       self.pad_to_multiple)
    probabilities = tf.nn.softmax(tf.cast(model(features, training=False), tf.float32), axis=-1)
    tags = word_values(tf.argmax(probabilities, -1, output_type=tf.int32), encoded.first_piece,
                       outside_id)
    scores = word_values(tf.reduce_max(probabilities, -1), encoded.first_piece, 0.0)
    return tags, scores


class Conll2003Task(TokenClassificationTask):
  """CoNLL-2003 English NER: TFDS `conll2003` (online) or its files via --data_path."""
  name = "conll2003"
  tfds_name = conll.DEFAULT_TFDS_NAME

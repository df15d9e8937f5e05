"""Translation with an attentional LSTM encoder-decoder (--model=lstm_seq2seq).

Run (the 18k real English-French pairs; 5 minutes on 2 CPU cores):
  python -m tfsft.train --task=translation --model=lstm_seq2seq \
      --data_path=../shared/data/fra_eng/fra.txt --num_epochs=10 --batch_size=64 \
      --max_seq_length=32 --model_dir=runs/fra
Expected: validation BLEU about 40 with 4 beams (docs/benchmarks.md has this and a longer run).

Training is teacher-forced with cross-entropy; padding is left out of the loss, token accuracy and
perplexity. Evaluation decodes (greedy or --beam_size beams) and scores corpus BLEU with sacrebleu
against the reference translations.
"""

import math

import keras
import keras_hub
import numpy as np
import sacrebleu
import tensorflow as tf

from tfsft.config import DataConfig
from tfsft.data import pipeline, sentence_pairs
from tfsft.metrics.token_accuracy import MaskedTokenAccuracy
from tfsft.tasks.base import EvaluationSplit, Task, TrainingBatches, check_enough_for_a_batch

_EXAMPLES_IN_TENSORBOARD = 8


def multi_reference_bleu(sources, translations, references):
  """Corpus BLEU (sacrebleu) with every reference of a source counted as a reference.

  Sentence-pair corpora such as Tatoeba list several translations of one source ("Run!" -> "Cours
  !", "Courez !"); scoring each pair alone would punish a model for choosing one valid translation
  over another. Each distinct source is scored once, against all its references. BLEU is
  lower-cased: the model's vocabulary is (lstm_seq2seq.standardize). Returns sacrebleu's score
  with `.signature` set to its reproducibility signature.
  """
  grouped = {}
  for source, translation, reference in zip(sources, translations, references):
    grouped.setdefault(source, (translation, []))[1].append(reference)
  hypotheses = [translation for translation, _ in grouped.values()]
  most = max((len(refs) for _, refs in grouped.values()), default=1)
  # sacrebleu takes one stream per reference slot; None where a source has fewer references.
  streams = [[refs[i] if i < len(refs) else None for _, refs in grouped.values()]
             for i in range(most)]
  metric = sacrebleu.metrics.BLEU(lowercase=True)
  score = metric.corpus_score(hypotheses, streams)
  score.signature = str(metric.get_signature())
  return score


def _teacher_forced_counts(model, features, targets):
  """(summed cross-entropy, correct tokens, tokens) over the real (non-padding) target tokens."""
  logits = tf.cast(model(features, training=False), tf.float32)
  real = tf.cast(tf.not_equal(targets, 0), tf.float32)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
  correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=targets.dtype), targets), tf.float32)
  return (tf.reduce_sum(cross_entropy * real), tf.reduce_sum(correct * real), tf.reduce_sum(real))


class TranslationTask(Task):
  name = "translation"
  model_kind = "seq2seq"
  default_model = "lstm_seq2seq"
  # Sentences, not documents: 64 tokens hold nearly every sentence pair, and the decoder's
  # default --max_decode_length follows it.
  default_max_seq_length = 64

  def __init__(self, data_config: DataConfig = DataConfig()):
    super().__init__(data_config)
    # Traced once per task and reused by every evaluation.
    self._translate = self._teacher_forced_counts = None

  def load_data(self, config, seed):
    return sentence_pairs.load(config, seed)

  def model_inputs(self, encoder, text, target):
    decoder_input_ids, decoder_target_ids = encoder.target_ids(target)
    return ({"source_ids": encoder.preprocess(text)["source_ids"],
             "decoder_input_ids": decoder_input_ids}, decoder_target_ids)

  def training_batches(self, encoder, examples, count, config):
    """Batches tokenized a batch at a time: the encoder-decoder's tokenizers already pad each
    batch to its own longest sentence (models/lstm_seq2seq.py)."""
    batch_size = config.runtime.batch_size
    check_enough_for_a_batch(count, batch_size)
    to_model_inputs = lambda text, target: self.model_inputs(encoder, text, target)
    return TrainingBatches(
        lambda seed: pipeline.batch_then_tokenize(examples, to_model_inputs, batch_size, seed),
        steps_per_pass=count // batch_size)

  def evaluation_split(self, encoder, examples, count, config):
    batch_size = config.runtime.batch_size
    to_model_inputs = lambda text, target: self.model_inputs(encoder, text, target)
    return EvaluationSplit(
        examples, pipeline.batch_then_tokenize(examples, to_model_inputs, batch_size,
                                               training=False),
        targets=pipeline.column_of(examples, 1), steps=math.ceil(count / batch_size))

  def build_model(self, encoder, config, label_names):
    return encoder.backbone  # the whole encoder-decoder belongs to the model family

  def loss(self):
    # ignore_class: padding positions get no loss and the mean is over real tokens only.
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

  def training_metrics(self):
    return [MaskedTokenAccuracy(ignored_label=0, name="token_accuracy"),  # 0: padding
            keras_hub.metrics.Perplexity(from_logits=True, mask_token_id=0, name="perplexity")]

  def evaluate(self, model, encoder, split, label_names):
    """Teacher-forced loss, token accuracy and perplexity, then decoding and BLEU, in one pass.

    A plain loop of tf.functions rather than `model.evaluate`: under MirroredStrategy Keras splits
    the last, smaller batch unevenly across replicas and fails to add their metric states.
    """
    if self._translate is None:
      source_spec = {name: tf.TensorSpec([None, None], tf.int32) for name in encoder.feature_names}
      self._translate = tf.function(encoder.translate, input_signature=[source_spec])
      self._teacher_forced_counts = tf.function(_teacher_forced_counts, reduce_retracing=True)
    totals = np.zeros(3)
    translations = []
    for features, targets in split.batches.take(split.steps):
      totals += [count.numpy() for count in self._teacher_forced_counts(model, features, targets)]
      source = {name: features[name] for name in encoder.feature_names}
      translations += [text.decode("utf-8") for text in self._translate(source).numpy()]
    loss_sum, correct, tokens = totals
    sources = [text.decode("utf-8") for text in split.texts]
    references = [text.decode("utf-8") for text in split.targets]
    bleu = multi_reference_bleu(sources, translations, references)
    return {
        "bleu": float(bleu.score),
        "bleu_signature": bleu.signature,
        "token_accuracy": float(correct / tokens),
        "perplexity": float(np.exp(loss_sum / tokens)),
        "loss": float(loss_sum / tokens),
        "examples": [{"source": source, "reference": reference, "translation": translation}
                     for source, reference, translation in
                     zip(sources[:_EXAMPLES_IN_TENSORBOARD], references, translations)],
    }

  def text_summaries(self, results, label_names):
    cell = lambda text: text.replace("|", "\\|")  # a pipe would end the markdown cell
    rows = [f"| {cell(row['source'])} | {cell(row['reference'])} | {cell(row['translation'])} |"
            for row in results["examples"]]
    return {"eval/translations": "\n".join(["| source | reference | translation |",
                                            "|---|---|---|"] + rows)}

  def predict(self, model, encoder, features, label_names):
    return {"translation": encoder.translate(features)}

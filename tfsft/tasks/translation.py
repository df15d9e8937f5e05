"""Translation with an attentional LSTM encoder-decoder (--model=lstm_seq2seq).

Run (the 18k real English-French pairs; ~10 minutes on 2 CPU cores):
  python -m tfsft.train --task=translation --model=lstm_seq2seq \
      --data_path=../shared/data/fra_eng/fra.txt --num_epochs=10 --model_dir=runs/fra
Expected: validation BLEU around 30 (docs/benchmarks.md has measured numbers and the longer run).

Training is teacher-forced with cross-entropy; padding is left out of the loss, token accuracy and
perplexity. Evaluation decodes (greedy or --beam_size beams) and scores corpus BLEU with sacrebleu
against the reference translations.
"""

import keras
import keras_hub
import sacrebleu
import tensorflow as tf

from tfsft.data import sentence_pairs
from tfsft.tasks.base import Task

_EXAMPLES_IN_TENSORBOARD = 8


class MaskedTokenAccuracy(keras.metrics.SparseCategoricalAccuracy):
  """Token accuracy over real target tokens (id 0 is padding)."""

  def update_state(self, y_true, y_pred, sample_weight=None):
    del sample_weight
    mask = tf.cast(tf.not_equal(y_true, 0), self.dtype)
    super().update_state(y_true, y_pred, sample_weight=mask)


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


class TranslationTask(Task):
  name = "translation"
  model_kind = "seq2seq"

  def __init__(self):
    self._translate = None  # traced once per task, reused by every evaluation

  def load_data(self, config, seed):
    return sentence_pairs.load(config, seed)

  def model_inputs(self, encoder, text, target):
    decoder_input_ids, decoder_target_ids = encoder.target_ids(target)
    return ({"source_ids": encoder.preprocess(text)["source_ids"],
             "decoder_input_ids": decoder_input_ids}, decoder_target_ids)

  def build_model(self, encoder, config, label_names):
    return encoder.backbone  # the whole encoder-decoder belongs to the model family

  def loss(self):
    # ignore_class: padding positions get no loss and the mean is over real tokens only.
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

  def training_metrics(self):
    return [MaskedTokenAccuracy(name="token_accuracy"),
            keras_hub.metrics.Perplexity(from_logits=True, mask_token_id=0, name="perplexity")]

  def evaluate(self, model, encoder, split, label_names):
    teacher_forced = model.evaluate(split.batches, steps=split.steps, verbose=0, return_dict=True)
    if self._translate is None:
      self._translate = tf.function(encoder.translate, input_signature=[
          {name: tf.TensorSpec([None, None], tf.int32) for name in encoder.feature_names}])
    translations = []
    for features, _ in split.batches.take(split.steps):
      source = {name: features[name] for name in encoder.feature_names}
      translations += [text.decode("utf-8") for text in self._translate(source).numpy()]
    sources = [text.decode("utf-8") for text in split.texts]
    references = [text.decode("utf-8") for text in split.targets]
    bleu = multi_reference_bleu(sources, translations, references)
    return {
        "bleu": float(bleu.score),
        "bleu_signature": bleu.signature,
        "token_accuracy": float(teacher_forced["token_accuracy"]),
        "perplexity": float(teacher_forced["perplexity"]),
        "loss": float(teacher_forced["loss"]),
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

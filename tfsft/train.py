"""Fine-tune a model on a task and export it for TF Serving.

  python -m tfsft.train --task=imdb --model=bert --init_checkpoint=<preset or directory> \
      --data_path=<aclImdb dir or tarball> --model_dir=runs/imdb

Flags can also come from a file: --flagfile=imdb.flags. This module only turns flags into a
TrainConfig; trainer.run does the work.
"""

from absl import app, flags

from tfsft import config as cfg
from tfsft import distribute, precision, trainer
from tfsft.errors import exit_on_user_error
from tfsft.tasks import TASKS

_D = cfg.TrainConfig(task="")  # defaults live in one place: the config dataclasses and the tasks


def _task_defaults(attribute: str) -> str:
  """'squad 384, translation 64, others 128': flag help read off the tasks' own defaults."""
  values = {name: getattr(TASKS.get(name)(), attribute) for name in TASKS.names()}
  most_common = max(set(values.values()), key=list(values.values()).count)
  special = [f"{name} {value}" for name, value in values.items() if value != most_common]
  return ", ".join([*special, f"others {most_common}"])


flags.DEFINE_string("task", None, "Task name: imdb, translation, text_classification, "
                    "glue/<cola|sst2|mrpc|qqp|mnli|qnli|rte|wnli|stsb>, conll2003, "
                    "token_classification, squad, instruction_tuning or language_modeling.")
flags.DEFINE_string("model", None,
                    "Model family: bert or lstm (classification), lstm_seq2seq (translation), "
                    "causal_lm (instruction_tuning, language_modeling). "
                    f"Default: the task's ({_task_defaults('default_model')}).")
flags.DEFINE_string("init_checkpoint", None,
                    "Pretrained weights: a keras-hub preset name, hf://<org>/<name>, a local "
                    "keras-hub preset or Hugging Face directory; causal_lm also a .gguf file. "
                    "Default: bert_base_en_uncased / gpt2_base_en (downloaded).")
flags.DEFINE_string("data_path", None,
                    "Local data (imdb: aclImdb directory or .tar.gz; translation: a source<TAB>target "
                    "file or a directory with train.tsv; glue/*: the GLUE TSV directory; "
                    "text_classification: a CSV/TSV/JSONL/TFRecord file or a directory with "
                    "train.<ext>). Default: the task's TFDS data set.")
flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir.")
flags.DEFINE_string("tfds_name", None, "translation: the TFDS data set "
                    "(default ted_hrlr_translate/pt_to_en), read as (source, target).")
flags.DEFINE_float("validation_fraction", _D.data.validation_fraction,
                   "Fraction of train carved out (seeded hash) as the validation split.")
flags.DEFINE_float("test_fraction", _D.data.test_fraction,
                   "Fraction carved out as the test split, for sources that have none (one file).")
flags.DEFINE_string("text_column", _D.data.text_column, "text_classification: the text column.")
flags.DEFINE_string("text_pair_column", None,
                    "text_classification: a second text column (sentence pairs).")
flags.DEFINE_string("label_column", _D.data.label_column, "text_classification: the label column.")
flags.DEFINE_boolean("regression", False,
                     "text_classification: numeric labels, a regression head (MSE) instead of classes.")
flags.DEFINE_boolean("version_2_with_negative", False,
                     "squad: SQuAD 2.0, some questions have no answer (TFDS squad/v2.0).")
flags.DEFINE_integer("max_query_length", _D.data.max_query_length,
                     "squad: question word-pieces kept.")
flags.DEFINE_integer("doc_stride", _D.data.doc_stride,
                     "squad: word-pieces between the starts of a long context's windows.")
flags.DEFINE_integer("max_answer_length", _D.model.max_answer_length,
                     "squad: longest answer in word-pieces.")
flags.DEFINE_integer("n_best_size", _D.model.n_best_size,
                     "squad: candidate spans per question that answers are chosen from.")
flags.DEFINE_float("null_score_diff_threshold", _D.model.null_score_diff_threshold,
                   "squad with --version_2_with_negative: abstain when the null score beats the "
                   "best span by more than this.")
flags.DEFINE_string("text_from_task", None,
                    "instruction_tuning / language_modeling: train on another task's examples "
                    "(e.g. translation, imdb), read with that task's --data_path or TFDS source.")
flags.DEFINE_string("prompt_template", None,
                    "instruction_tuning with --text_from_task: the user's turn, with {source} for "
                    "the example's text, e.g. \"Translate to French: {source}\"; the target (or "
                    "label name) is the assistant's answer.")
flags.DEFINE_boolean("group_by_length", _D.data.group_by_length,
                     "Training batches of examples of similar length (Hugging Face's "
                     "group_by_length); --nogroup_by_length keeps the shuffled order. Either way "
                     "each batch is padded only to its longest row. Default: the task's "
                     f"({_task_defaults('default_group_by_length')}).")
flags.DEFINE_integer("pad_to_multiple", _D.data.pad_to_multiple,
                     "Each batch is cut to its longest row rounded up to a multiple of this. "
                     "Default: 8 on GPUs and TPUs (XLA compiles one program per width), 1 on CPUs "
                     "(exact widths: rounding up only adds padding there).")
flags.DEFINE_boolean("train_on_prompt", _D.data.train_on_prompt,
                     "causal_lm: loss on every token, not only on the assistant's turns.")
flags.DEFINE_boolean("packing", _D.data.packing,
                     "causal_lm: pack several examples into each --max_seq_length row (positions "
                     "restart, no attention across examples); otherwise batches are grouped by "
                     "length and padded to their longest row.")
flags.DEFINE_enum("long_examples", _D.data.long_examples, ("truncate", "drop"),
                  "causal_lm: examples longer than --max_seq_length lose their prompt's start "
                  "(truncate) or are left out (drop); the log counts them.")
flags.DEFINE_string("chat_template", None,
                    "causal_lm: alpaca, chatml, a template name of the checkpoint, or a Jinja file. "
                    "Default: the checkpoint's own (alpaca for checkpoints without one).")
flags.DEFINE_integer("max_new_tokens", _D.model.max_new_tokens,
                     "causal_lm: most tokens generated per answer (evaluation and the export).")
flags.DEFINE_float("temperature", _D.model.temperature,
                   "causal_lm: sampling temperature; 0 is greedy decoding.")
flags.DEFINE_integer("top_k", _D.model.top_k, "causal_lm sampling: keep the k likeliest tokens; 0: all.")
flags.DEFINE_float("top_p", _D.model.top_p, "causal_lm sampling: nucleus probability mass; 1: all.")
flags.DEFINE_integer("eval_generate_examples", _D.runtime.eval_generate_examples,
                     "causal_lm: validation examples answered by generation and scored (exact "
                     "match, BLEU, ROUGE-L); 0: none.")
flags.DEFINE_integer("max_train_examples", None, "Use at most this many training examples.")
flags.DEFINE_integer("max_eval_examples", None, "Use at most this many validation/test examples.")
flags.DEFINE_string("model_dir", _D.runtime.model_dir,
                    "Checkpoints, TensorBoard logs and eval_results.json; rerun to resume.")
flags.DEFINE_string("export_dir", None, "TF Serving model base path. Default: saved_models/<task>.")
flags.DEFINE_boolean("export", True, "Export a SavedModel after training.")
flags.DEFINE_integer("max_seq_length", None, "Tokens per example. Default: the task's "
                     f"({_task_defaults('default_max_seq_length')}).")
flags.DEFINE_float("dropout", _D.model.dropout, "Dropout before the task head / output layer.")
flags.DEFINE_integer("vocab_size", _D.model.vocab_size, "LSTM models: vocabulary size (per side).")
flags.DEFINE_integer("embedding_dim", _D.model.embedding_dim, "LSTM models: embedding size.")
flags.DEFINE_integer("lstm_units", _D.model.lstm_units, "LSTM models: encoder units per direction.")
flags.DEFINE_string("pretrained_embeddings", None, "LSTM models: initialise the (source) Embedding "
                    "layer from a word2vec or GloVe text file.")
flags.DEFINE_string("pretrained_target_embeddings", None,
                    "lstm_seq2seq: initialise the decoder's Embedding layer from a vectors file.")
flags.DEFINE_boolean("freeze_embeddings", False, "LSTM models: keep pretrained embeddings fixed.")
flags.DEFINE_boolean("bidirectional", _D.model.bidirectional, "lstm_seq2seq: bidirectional encoder.")
flags.DEFINE_string("attention", _D.model.attention,
                    "lstm_seq2seq: luong (dot score) or bahdanau (additive score).")
flags.DEFINE_integer("beam_size", _D.model.beam_size,
                     "lstm_seq2seq: beams in evaluation and the export; 1 is greedy decoding.")
flags.DEFINE_integer("max_decode_length", None,
                     "lstm_seq2seq: most tokens generated per translation. Default: --max_seq_length.")
flags.DEFINE_enum("peft", _D.peft.peft, cfg.PeftConfig.METHODS,
                  "bert / causal_lm: parameter-efficient fine-tuning. none: every weight trains; "
                  "lora: low-rank updates of --lora_targets; adapter: bottleneck adapters after "
                  "attention and feed-forward blocks. The base stays frozen; the head trains.")
flags.DEFINE_integer("lora_rank", _D.peft.lora_rank, "--peft=lora: rank r of each update.")
flags.DEFINE_float("lora_alpha", _D.peft.lora_alpha,
                   "--peft=lora: the update is scaled by alpha / r (alpha / sqrt(r) with "
                   "--lora_rslora).")
flags.DEFINE_boolean("lora_rslora", _D.peft.lora_rslora,
                     "--peft=lora: rank-stabilized scaling, alpha / sqrt(r).")
flags.DEFINE_float("lora_dropout", _D.peft.lora_dropout, "--peft=lora: dropout on the update's input.")
flags.DEFINE_string("lora_targets", None,
                    "--peft=lora: comma-separated projections: query, key, value, "
                    "attention_output, feedforward_gate, feedforward_up, feedforward_down (or "
                    "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj). Default: "
                    "bert query,value; causal_lm all of them.")
flags.DEFINE_integer("adapter_size", _D.peft.adapter_size, "--peft=adapter: bottleneck width.")
flags.DEFINE_enum("base_dtype", _D.peft.base_dtype, cfg.PeftConfig.BASE_DTYPES,
                  "--peft: dtype of the frozen base weights (bfloat16 halves their memory; the "
                  "adapters train in float32).")
flags.DEFINE_integer("batch_size", _D.runtime.batch_size,
                     "Global batch size; each replica gets batch_size / num_replicas.")
flags.DEFINE_float("learning_rate", None,
                   "Peak learning rate. Default: bert 5e-5, lstm 1e-3, lstm_seq2seq 5e-3, "
                   "causal_lm 2e-5; with --peft, bert 2e-3 and causal_lm 1e-3.")
flags.DEFINE_float("num_epochs", None, "Passes over the training data (default 3).")
flags.DEFINE_integer("train_steps", None, "Optimizer steps (instead of --num_epochs).")
flags.DEFINE_float("warmup_ratio", _D.optimizer.warmup_ratio, "Fraction of steps of linear warmup.")
flags.DEFINE_float("weight_decay", _D.optimizer.weight_decay,
                   "AdamW decoupled weight decay (not applied to LayerNorm or bias).")
flags.DEFINE_float("clip_global_norm", _D.optimizer.clip_global_norm, "Gradient clipping; 0: off.")
flags.DEFINE_integer("eval_every_steps", None, "Validation interval. Default: one pass over train.")
flags.DEFINE_integer("checkpoint_every_steps", _D.runtime.checkpoint_every_steps,
                     "Checkpoint interval.")
flags.DEFINE_integer("log_every_steps", _D.runtime.log_every_steps, "TensorBoard train interval.")
flags.DEFINE_integer("steps_per_execution", _D.runtime.steps_per_execution,
                     "Training steps per call into the compiled step function (Keras' "
                     "steps_per_execution): fewer round trips from Python, which pays most on "
                     "TPUs. The step count, checkpoints and evaluations fall on its multiples.")
flags.DEFINE_enum("strategy", _D.runtime.strategy, distribute.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu ('local' on a TPU VM).")
flags.DEFINE_integer("cpu_logical_devices", 0,
                     "Split the CPU into N logical devices (test mirrored training without GPUs).")
flags.DEFINE_enum("mixed_precision", _D.runtime.mixed_precision, precision.CHOICES,
                  "Keras dtype policy. auto: mixed_bfloat16 for BERT full fine-tuning where a TPU, "
                  "an Ampere-or-later GPU or a CPU with AVX512-BF16/AMX is, float32 otherwise.")
flags.DEFINE_integer("seed", _D.runtime.seed, "Seeds initialisation, shuffling and the split.")

FLAGS = flags.FLAGS


def config_from_flags() -> cfg.TrainConfig:
  return cfg.TrainConfig(
      task=FLAGS.task,
      data=cfg.DataConfig(
          data_path=FLAGS.data_path, tfds_data_dir=FLAGS.tfds_data_dir, tfds_name=FLAGS.tfds_name,
          validation_fraction=FLAGS.validation_fraction, test_fraction=FLAGS.test_fraction,
          max_train_examples=FLAGS.max_train_examples, max_eval_examples=FLAGS.max_eval_examples,
          group_by_length=FLAGS.group_by_length, pad_to_multiple=FLAGS.pad_to_multiple,
          text_column=FLAGS.text_column, text_pair_column=FLAGS.text_pair_column,
          label_column=FLAGS.label_column, regression=FLAGS.regression,
          version_2_with_negative=FLAGS.version_2_with_negative,
          max_query_length=FLAGS.max_query_length, doc_stride=FLAGS.doc_stride,
          text_from_task=FLAGS.text_from_task, prompt_template=FLAGS.prompt_template,
          train_on_prompt=FLAGS.train_on_prompt, packing=FLAGS.packing,
          long_examples=FLAGS.long_examples),
      model=cfg.ModelConfig(
          model=FLAGS.model, init_checkpoint=FLAGS.init_checkpoint,
          max_seq_length=FLAGS.max_seq_length, dropout=FLAGS.dropout, vocab_size=FLAGS.vocab_size,
          embedding_dim=FLAGS.embedding_dim, lstm_units=FLAGS.lstm_units,
          pretrained_embeddings=FLAGS.pretrained_embeddings,
          pretrained_target_embeddings=FLAGS.pretrained_target_embeddings,
          freeze_embeddings=FLAGS.freeze_embeddings, bidirectional=FLAGS.bidirectional,
          attention=FLAGS.attention, beam_size=FLAGS.beam_size,
          max_decode_length=FLAGS.max_decode_length, max_answer_length=FLAGS.max_answer_length,
          n_best_size=FLAGS.n_best_size,
          null_score_diff_threshold=FLAGS.null_score_diff_threshold,
          chat_template=FLAGS.chat_template, max_new_tokens=FLAGS.max_new_tokens,
          temperature=FLAGS.temperature, top_k=FLAGS.top_k, top_p=FLAGS.top_p),
      optimizer=cfg.OptimizerConfig(
          learning_rate=FLAGS.learning_rate, warmup_ratio=FLAGS.warmup_ratio,
          weight_decay=FLAGS.weight_decay, clip_global_norm=FLAGS.clip_global_norm),
      runtime=cfg.RuntimeConfig(
          model_dir=FLAGS.model_dir, export_dir=FLAGS.export_dir, batch_size=FLAGS.batch_size,
          num_epochs=FLAGS.num_epochs, train_steps=FLAGS.train_steps,
          eval_every_steps=FLAGS.eval_every_steps,
          checkpoint_every_steps=FLAGS.checkpoint_every_steps,
          log_every_steps=FLAGS.log_every_steps,
          steps_per_execution=FLAGS.steps_per_execution,
          eval_generate_examples=FLAGS.eval_generate_examples,
          strategy=FLAGS.strategy, tpu=FLAGS.tpu,
          cpu_logical_devices=FLAGS.cpu_logical_devices, mixed_precision=FLAGS.mixed_precision,
          seed=FLAGS.seed, export=FLAGS.export),
      peft=cfg.PeftConfig(
          peft=FLAGS.peft, lora_rank=FLAGS.lora_rank, lora_alpha=FLAGS.lora_alpha,
          lora_rslora=FLAGS.lora_rslora, lora_dropout=FLAGS.lora_dropout,
          lora_targets=FLAGS.lora_targets, adapter_size=FLAGS.adapter_size,
          base_dtype=FLAGS.base_dtype))


@exit_on_user_error
def main(argv):
  del argv
  results = trainer.run(config_from_flags())
  scores = {name: value for name, value in results["validation"].items() if isinstance(value, float)}
  print(f"Done at step {results['step']}: validation {scores}")
  if "export_path" in results:
    print(f"SavedModel: {results['export_path']}")


if __name__ == "__main__":
  flags.mark_flag_as_required("task")
  app.run(main)

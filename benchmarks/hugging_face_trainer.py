"""The Hugging Face peer of benchmarks/peer_comparison.py: sequence classification fine-tuned the
way the Transformers guides show it, `Trainer` with `DataCollatorWithPadding` (dynamic padding)
and, with --group_by_length, length-grouped batches. Runs in its own process and Python (it needs
torch and transformers: the `peers` extra), reads the JSON Lines files the driver wrote, and
prints one RESULT line.

  python benchmarks/hugging_face_trainer.py --model=../shared/models/all-MiniLM-L6-v2 \
      --data_dir=DIR --max_seq_length=64 --batch_size=32 --learning_rate=5e-5 [--group_by_length]
"""

import argparse
import inspect
import json
import os
import tempfile
import time


def read_jsonl(path):
  with open(path, encoding="utf-8") as handle:
    return [json.loads(line) for line in handle]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--model", required=True)
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--max_seq_length", type=int, default=64)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--num_epochs", type=float, default=1)
  parser.add_argument("--group_by_length", action="store_true")
  args = parser.parse_args()

  import numpy as np
  import torch
  import transformers

  train, validation = (read_jsonl(os.path.join(args.data_dir, f"{split}.jsonl"))
                       for split in ("train", "validation"))
  label_ids = {name: i for i, name in enumerate(sorted({row["label"] for row in train}))}
  tokenizer = transformers.AutoTokenizer.from_pretrained(args.model)

  def encoded(rows):
    features = tokenizer([row["text"] for row in rows], truncation=True,
                         max_length=args.max_seq_length)
    return [{"input_ids": ids, "attention_mask": mask, "labels": label_ids[row["label"]]}
            for ids, mask, row in zip(features["input_ids"], features["attention_mask"], rows)]

  train_features, validation_features = encoded(train), encoded(validation)
  # Transformers 5 names the option train_sampling_strategy; 4.x had group_by_length=True.
  if "train_sampling_strategy" in inspect.signature(transformers.TrainingArguments).parameters:
    sampling = {"train_sampling_strategy": "group_by_length" if args.group_by_length else "random"}
  else:
    sampling = {"group_by_length": args.group_by_length}
  model = transformers.AutoModelForSequenceClassification.from_pretrained(
      args.model, num_labels=len(label_ids))
  with tempfile.TemporaryDirectory() as output_dir:
    trainer = transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.batch_size, learning_rate=args.learning_rate,
            num_train_epochs=args.num_epochs, **sampling,
            save_strategy="no", report_to=[], use_cpu=True, seed=42, logging_steps=10_000),
        train_dataset=train_features,
        data_collator=transformers.DataCollatorWithPadding(tokenizer))
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions = trainer.predict(validation_features)
    eval_seconds = time.perf_counter() - start
  accuracy = float(np.mean(np.argmax(predictions.predictions, -1) == predictions.label_ids))
  print("RESULT " + json.dumps({
      "train_seconds": round(train_seconds, 2), "eval_seconds": round(eval_seconds, 2),
      "accuracy": round(accuracy, 4), "threads": torch.get_num_threads(),
      "versions": f"transformers {transformers.__version__}, torch {torch.__version__}"}),
      flush=True)


if __name__ == "__main__":
  main()

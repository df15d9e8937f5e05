"""The Hugging Face peer of benchmarks/serving_throughput.py: raw reviews classified by a
Transformers `pipeline("text-classification")`, batched and truncated the way its docs show.
Runs in its own process and Python (it needs torch and transformers: the `peers` extra), reads
the reviews the driver wrote, and prints one RESULT line.

  python benchmarks/hugging_face_pipeline.py --model=../shared/models/all-MiniLM-L6-v2 \
      --reviews=FILE --max_seq_length=128 --batch_size=32
"""

import argparse
import json
import time


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--model", required=True)
  parser.add_argument("--reviews", required=True, help="JSON Lines file of {'text': ...}.")
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=32)
  args = parser.parse_args()

  import torch
  import transformers

  with open(args.reviews, encoding="utf-8") as handle:
    texts = [json.loads(line)["text"] for line in handle]
  # The MiniLM checkpoint has no classification head: the pipeline's model gets a random one,
  # which costs the same as a trained one.
  classifier = transformers.pipeline("text-classification", model=args.model, device=-1)
  options = {"batch_size": args.batch_size, "truncation": True, "max_length": args.max_seq_length}
  classifier(texts[:args.batch_size], **options)  # warmup, as the tfsft side gets
  start = time.perf_counter()
  classifier(texts, **options)
  seconds = time.perf_counter() - start
  print("RESULT " + json.dumps({
      "seconds": round(seconds, 2), "threads": torch.get_num_threads(),
      "versions": f"transformers {transformers.__version__}, torch {torch.__version__}"}),
      flush=True)


if __name__ == "__main__":
  main()

"""Tiny data and models written by the tests, in the same formats users bring."""

import os
import random

POSITIVE_WORDS = "great wonderful excellent superb loved brilliant moving fantastic".split()
NEGATIVE_WORDS = "awful terrible boring dull hated poor waste bad".split()
FILLER_WORDS = "the movie film plot actor story was and it a of this".split()


def review(label_words, rng):
  words = [rng.choice(FILLER_WORDS) for _ in range(12)] + [rng.choice(label_words) for _ in range(3)]
  rng.shuffle(words)
  return " ".join(words).capitalize() + "."


def write_aclimdb(root, train_per_class=60, test_per_class=20, seed=0):
  """An aclImdb/ tree whose sentiment is carried by a few obvious words."""
  rng = random.Random(seed)
  for split, count in (("train", train_per_class), ("test", test_per_class)):
    for label, words, rating in (("pos", POSITIVE_WORDS, 8), ("neg", NEGATIVE_WORDS, 2)):
      folder = os.path.join(root, "aclImdb", split, label)
      os.makedirs(folder, exist_ok=True)
      for i in range(count):
        with open(os.path.join(folder, f"{i}_{rating}.txt"), "w") as handle:
          handle.write(review(words, rng))
  return os.path.join(root, "aclImdb")


FIRST_NAMES = "alice bob carol dave".split()
SURNAMES = "smith jones".split()
CITIES = "paris london berlin rome".split()
NER_FILLER_WORDS = "visited met in with from said today déjà".split()  # one non-ASCII word


def tagged_sentences(count=120, seed=0):
  """(words, tags) of sentences such as `Alice Smith visited Paris .`: two-word people (B-PER
  I-PER), one-word cities (B-LOC), the rest O."""
  rng = random.Random(seed)
  sentences = []
  for _ in range(count):
    person = [rng.choice(FIRST_NAMES).capitalize()] + (
        [rng.choice(SURNAMES).capitalize()] if rng.random() < 0.5 else [])
    city = rng.choice(CITIES).capitalize()
    verb = rng.choice(["visited", "met"])
    words = person + [verb, city, rng.choice(["today", "."])]
    tags = ["B-PER"] + ["I-PER"] * (len(person) - 1) + ["O", "B-LOC", "O"]
    if rng.random() < 0.5:  # the city first: "In Rome , Bob Jones said ..."
      words = ["In", city, ","] + person + ["said", "."]
      tags = ["O", "B-LOC", "O"] + tags[:len(person)] + ["O", "O"]
    if rng.random() < 0.25:  # a two-byte letter before the entities: offsets count characters
      words, tags = ["Déjà", ","] + words, ["O", "O"] + tags
    sentences.append((words, tags))
  return sentences


QUESTION_WORDS = "where did go".split()


def squad_document(count=150, unanswerable=0.0, seed=0):
  """A SQuAD-format document: "Where did Bob go?" over a few sentences, one of which says where
  Bob went ("Bob visited Rome today."). With `unanswerable` > 0, that share of questions asks about
  someone the context never sends anywhere (is_impossible, SQuAD 2.0)."""
  rng = random.Random(seed)
  paragraphs = []
  for i in range(count):
    people = rng.sample(FIRST_NAMES, 3)
    city, elsewhere = (c.capitalize() for c in rng.sample(CITIES, 2))
    traveller, others = people[0].capitalize(), [p.capitalize() for p in people[1:]]
    impossible = rng.random() < unanswerable
    sentences = [f"{others[0]} met {others[1]} {rng.choice(['today', 'in ' + elsewhere])}."
                 for _ in range(rng.randint(1, 4))]
    if not impossible:
      sentences.insert(rng.randint(0, len(sentences)), f"{traveller} visited {city} today.")
    context = " ".join(sentences)
    answers = [] if impossible else [
        {"text": city, "answer_start": context.index(f"{traveller} visited ") + len(traveller) + 9}]
    paragraphs.append({"context": context, "qas": [{
        "id": f"q{i}", "question": f"Where did {traveller} go?", "answers": answers,
        "is_impossible": impossible}]})
  return {"version": "v2.0" if unanswerable else "v1.1",
          "data": [{"title": "travels", "paragraphs": paragraphs}]}


def write_conll(path, sentences, columns=2):
  """CoNLL lines (`token TAG` or `token POS chunk TAG`), -DOCSTART- first, blank between."""
  with open(path, "w") as handle:
    handle.write("-DOCSTART- O\n\n" if columns == 2 else "-DOCSTART- -X- -X- O\n\n")
    for words, tags in sentences:
      for word, tag in zip(words, tags):
        handle.write(f"{word} {tag}\n" if columns == 2 else f"{word} NNP B-NP {tag}\n")
      handle.write("\n")
  return path


def write_conll_folder(folder, sentences, train=160):
  """A CoNLL --data_path folder: the first `train` sentences in a 2-column train.txt, the rest in
  a 4-column valid.txt (as CoNLL-2003 ships them)."""
  folder.mkdir()
  write_conll(folder / "train.txt", sentences[:train])
  write_conll(folder / "valid.txt", sentences[train:], columns=4)
  return folder


def write_tiny_bert_preset(directory):
  """A 2-layer, hidden-16 BERT saved as a keras-hub preset (config.json + weights + tokenizer)."""
  import keras_hub
  vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"] + sorted(
      set(POSITIVE_WORDS + NEGATIVE_WORDS + FILLER_WORDS + FIRST_NAMES + SURNAMES + CITIES
          + NER_FILLER_WORDS + QUESTION_WORDS)) + ["##s"]
  backbone = keras_hub.models.BertBackbone(
      vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=16,
      intermediate_dim=32, max_sequence_length=64)
  tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
  backbone.save_to_preset(directory)
  tokenizer.save_to_preset(directory)
  return directory


ANIMALS = "cat dog horse rabbit".split()
VEHICLES = "car truck bus train".split()


def write_context_corpus(path, lines=1500, seed=0):
  """Animals and vehicles each appear in their own sentence frames: words that share contexts."""
  rng = random.Random(seed)
  frames = [("animal", "the {} eats grass and sleeps in the barn"),
            ("animal", "my {} likes to eat and sleep all day"),
            ("vehicle", "we drive the {} on the road to the city"),
            ("vehicle", "the {} needs fuel and a road to drive")]
  with open(path, "w") as handle:
    for _ in range(lines):
      kind, frame = rng.choice(frames)
      handle.write(frame.format(rng.choice(ANIMALS if kind == "animal" else VEHICLES)) + "\n")
  return path


NUMBERS = {"one": "un", "two": "deux", "three": "trois", "four": "quatre", "five": "cinq",
           "six": "six", "seven": "sept", "eight": "huit"}


def reversal_pair(rng):
  """A sentence of number words and its "translation": each word translated, the order reversed,
  so the decoder must attend to the right source position at every step."""
  words = [rng.choice(sorted(NUMBERS)) for _ in range(rng.randint(2, 5))]
  return " ".join(words), " ".join(NUMBERS[word] for word in reversed(words))


def write_reversal_pairs(path, count=800, seed=0):
  """A source<TAB>target file of reversal pairs, with an attribution column Tatoeba files have."""
  rng = random.Random(seed)
  with open(path, "w", encoding="utf-8") as handle:
    for i in range(count):
      source, target = reversal_pair(rng)
      handle.write(f"{source}\t{target}\tCC-BY #{i}\n")
  return path


def labeled_rows(count=160, seed=0):
  """(review, label) rows whose label is carried by obvious words, with labels named by the user."""
  rng = random.Random(seed)
  rows = []
  for _ in range(count):
    label = rng.choice(["thumbs up", "thumbs down"])
    rows.append((review(POSITIVE_WORDS if label == "thumbs up" else NEGATIVE_WORDS, rng), label))
  return rows


def pair_rows(count=160, seed=0):
  """(premise, hypothesis, label): `same` when both sentences carry the same sentiment."""
  rng = random.Random(seed)
  rows = []
  for _ in range(count):
    first, second = rng.choice([POSITIVE_WORDS, NEGATIVE_WORDS]), rng.choice([POSITIVE_WORDS, NEGATIVE_WORDS])
    rows.append((review(first, rng), review(second, rng), "same" if first is second else "different"))
  return rows

"""Model families by --model name. Adding one: a module with a `FAMILY` and one line here."""

from tfsft.models import bert, causal_lm, lstm, lstm_seq2seq
from tfsft.registry import Registry

MODELS = Registry("model", "--model")
MODELS.register("bert", bert.FAMILY)
MODELS.register("causal_lm", causal_lm.FAMILY)
MODELS.register("lstm", lstm.FAMILY)
MODELS.register("lstm_seq2seq", lstm_seq2seq.FAMILY)

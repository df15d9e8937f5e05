"""Chat templates: conversations rendered exactly as Hugging Face transformers renders them, and
split into the text a model is given and the text it learns to write.

Where a template comes from (`resolve`):
  --chat_template=NAME   a built-in template (BUILTIN_TEMPLATES) or one of the checkpoint's named
                         templates (tokenizer_config.json lists them as [{name, template}, ...])
  --chat_template=PATH   a Jinja file of the user's (Jinja text itself is accepted too)
  no flag                the checkpoint's own: chat_template.jinja or tokenizer_config.json's
                         `chat_template`, or the `tokenizer.chat_template` string of a GGUF file

Rendering follows transformers' `apply_chat_template` (as read in transformers 5.24's
src/transformers/utils/chat_template_utils.py): Jinja2's ImmutableSandboxedEnvironment (a
checkpoint's template is untrusted code) with trim_blocks, lstrip_blocks, the loopcontrols extension
and `{% generation %}`, the globals raise_exception, strftime_now, dict and namespace, a tojson
filter that does not escape HTML, and the variables messages, tools=None, documents=None,
add_generation_prompt and the tokenizer's special tokens (bos_token, eos_token, ...).
tests/data/test_chat_template.py compares renderings with transformers itself.

Trainable text, for completion-only loss (`ChatTemplate.segments`): for each assistant message,
exactly the text the model must write at inference after being given `prompt(messages[:k])`, up to
where the next message's rendering begins: the message's content plus the template's end-of-turn
text (ChatML: "answer<|im_end|>\\n"; Llama 3: "answer<|eot_id|>"; alpaca: "answer" + eos_token).
This is what TRL's training templates wrap in `{% generation %}` (qwen2_5/qwen3/lfm2_training.jinja
include "<|im_end|>\\n", gemma's "<end_of_turn>\\n"): the model learns to end its turn, and the
newline after ChatML's <|im_end|> costs nothing because generation stops at <|im_end|>. It is found
by rendering prefixes of the conversation with and without the generation prompt, which requires a
prefix-stable template; one that is not (Mistral v0.3 moves the system prompt into the last user
turn, Qwen3 writes a <think> block only after the last user turn) is refused with the fix. A
template with its own `{% generation %}` marks (TRL's *_training.jinja) is taken at its word
instead, as TRL's assistant_only_loss does.

Templates that begin with `{{ bos_token }}` put the start token into the text: the tokenizer must
then not add another one (keras-hub preprocessors: add_start_token=False).
"""

import contextvars
import dataclasses
import datetime
import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox
import jinja2.utils

from tfsft.data import text_files
from tfsft.errors import UserError

Message = Mapping[str, Any]

# Base models have no template of their own: these are the two formats SFT toolkits fall back on.
BUILTIN_TEMPLATES = {
    # Stanford Alpaca's prompt (tatsu-lab/stanford_alpaca train.py PROMPT_DICT) and target
    # (output + eos_token), to the byte for single-turn records. A system message replaces the
    # preamble; later turns follow the same pattern.
    "alpaca": (
        r"{%- if eos_token is not defined -%}"
        r"{{- raise_exception('the alpaca chat template ends each response with eos_token, and the "
        r"tokenizer defines none') -}}"
        r"{%- endif -%}"
        r"{%- if messages[0]['role'] == 'system' -%}"
        r"{{- messages[0]['content'] -}}{%- set turns = messages[1:] -%}"
        r"{%- elif messages[0]['input'] -%}"
        r"{{- 'Below is an instruction that describes a task, paired with an input that provides "
        r"further context. Write a response that appropriately completes the request.' -}}"
        r"{%- set turns = messages -%}"
        r"{%- else -%}"
        r"{{- 'Below is an instruction that describes a task. Write a response that appropriately "
        r"completes the request.' -}}"
        r"{%- set turns = messages -%}"
        r"{%- endif -%}"
        r"{%- for message in turns -%}"
        r"{%- if message['role'] == 'user' and message['input'] -%}"
        r"{{- '\n\n### Instruction:\n' + message['instruction'] + '\n\n### Input:\n' + "
        r"message['input'] + '\n\n' -}}"
        r"{%- elif message['role'] == 'user' -%}"
        r"{{- '\n\n### Instruction:\n' + message['content'] + '\n\n' -}}"
        r"{%- elif message['role'] == 'assistant' -%}"
        r"{{- '### Response:' + message['content'] + eos_token -}}"
        r"{%- else -%}"
        r"{{- raise_exception('the alpaca chat template takes a system message only as the first "
        r"message') -}}"
        r"{%- endif -%}"
        r"{%- endfor -%}"
        r"{%- if add_generation_prompt -%}{{- '### Response:' -}}{%- endif -%}"),
    # ChatML as TRL's setup_chat_format writes it (no default system message).
    "chatml": (
        r"{% for message in messages %}"
        r"{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        r"{% endfor %}"
        r"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
}

# The tokenizer attributes transformers passes to templates (SPECIAL_TOKENS_ATTRIBUTES).
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                       "mask_token")

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")  # as transformers detects it


@dataclasses.dataclass(frozen=True)
class Segment:
  text: str
  trainable: bool


class ChatTemplate:
  """A compiled chat template with the special tokens and extra variables it renders with."""

  def __init__(self, template: str, source: str, special_tokens: Optional[Mapping[str, str]] = None,
               variables: Optional[Mapping[str, Any]] = None):
    """`source` says where the template came from, in errors; `variables` are further template
    variables (e.g. {"enable_thinking": False}), which win over special tokens of the same name."""
    self.template = template
    self.source = source
    self.special_tokens = dict(special_tokens or {})
    self.variables = dict(variables or {})
    self.marks_generation = bool(_GENERATION_TAG.search(template))
    try:
      self._compiled = _ENVIRONMENT.from_string(template)
    except jinja2.TemplateSyntaxError as error:
      raise UserError(f"{source} is not a valid Jinja chat template (template line {error.lineno}: "
                      f"{error.message}): fix the template") from None

  def render(self, messages: Sequence[Message], add_generation_prompt: bool = False, *,
             where: str = "") -> str:
    """The conversation as text; `where` (e.g. "train.jsonl line 3") prefixes errors."""
    return self._render(messages, add_generation_prompt, where)[0]

  def prompt(self, messages: Sequence[Message], *, where: str = "") -> str:
    """What a model is given at inference: the conversation so far and the assistant's header."""
    return self.render(messages, add_generation_prompt=True, where=where)

  def segments(self, messages: Sequence[Message], *, where: str = "") -> List[Segment]:
    """`render(messages)` cut into consecutive segments, trainable exactly where the text is an
    assistant turn's (see the module docstring); adjacent segments differ in `trainable`."""
    if self.marks_generation:
      return self._segments_from_marks(messages, where)
    return self._segments_from_prefixes(messages, where)

  def _render(self, messages, add_generation_prompt, where) -> Tuple[str, List[Tuple[int, int]]]:
    """The text and the (start, end) spans that `{% generation %}` marked in it."""
    blocks, spans = [], []
    tracking = _GENERATION_TRACKING.set((blocks, spans))
    try:
      # Rendered piece by piece so the generation marks can see how much text precedes them.
      for block in self._compiled.generate(
          messages=list(messages), tools=None, documents=None,
          add_generation_prompt=add_generation_prompt, **{**self.special_tokens, **self.variables}):
        blocks.append(block)
    except (jinja2.TemplateError, TypeError) as error:
      raise UserError(f"{_prefix(where)}the chat template ({self.source}) cannot render this "
                      f"conversation: {error}") from None
    finally:
      _GENERATION_TRACKING.reset(tracking)
    return "".join(blocks), spans

  def _segments_from_marks(self, messages, where) -> List[Segment]:
    text, spans = self._render(messages, False, where)
    if not spans and any(message["role"] == "assistant" for message in messages):
      raise UserError(f"{_prefix(where)}the chat template's {{% generation %}} marks "
                      f"({self.source}) cover none of this conversation's assistant messages, so "
                      "nothing would be learned: mark the assistant turns")
    segments, end = [], 0
    for start, stop in spans:
      segments += [Segment(text[end:start], False), Segment(text[start:stop], True)]
      end = stop
    return _merged(segments + [Segment(text[end:], False)])

  def _segments_from_prefixes(self, messages, where) -> List[Segment]:
    full = self.render(messages, where=where)
    segments, end = [], 0  # `end`: where the text not yet given to a segment begins
    for index, message in enumerate(messages):
      if message["role"] == "assistant":
        start, stop = self._assistant_turn(messages, index, full, end, where)
        segments += [Segment(full[end:start], False), Segment(full[start:stop], True)]
        end = stop
    return _merged(segments + [Segment(full[end:], False)])

  def _assistant_turn(self, messages, index, full, end, where) -> Tuple[int, int]:
    """Where assistant message `index`'s turn lies in `full`: from the end of the prompt for it to
    where the next message begins. `end` is where the previous turn ended."""
    if index == 0:
      raise UserError(f"{_prefix(where)}the conversation starts with an assistant message, which "
                      "has no prompt to answer: start it with a system or user message")
    prompt = self.render(messages[:index], add_generation_prompt=True, where=where)
    through = self.render(messages[:index + 1], where=where)
    if not (through.startswith(prompt) and full.startswith(through) and len(prompt) >= end):
      raise self._not_prefix_stable(where, index)
    content = messages[index]["content"]
    turn = through[len(prompt):]
    if content not in turn and content.strip() not in turn:  # templates may trim it (Llama 3)
      raise UserError(f"{_prefix(where)}the chat template ({self.source}) does not write "
                      f"assistant message {index + 1}'s content after its generation prompt, so "
                      "its trainable text cannot be found: use a template that renders messages "
                      "verbatim")
    return len(prompt), len(through)

  def _not_prefix_stable(self, where, index) -> UserError:
    return UserError(
        f"{_prefix(where)}the chat template ({self.source}) is not prefix-stable: the first "
        f"{index} message(s) with the generation prompt, then message {index + 1}, do not render "
        "as the whole conversation begins, so training text and inference prompts would differ: "
        "use a template that marks assistant text with {% generation %} (TRL's "
        "*_training.jinja) or another --chat_template (e.g. chatml)")


def _prefix(where):
  return f"{where}: " if where else ""


def _merged(segments) -> List[Segment]:
  merged = []
  for segment in segments:
    if not segment.text:
      continue
    if merged and merged[-1].trainable == segment.trainable:
      merged[-1] = Segment(merged[-1].text + segment.text, segment.trainable)
    else:
      merged.append(segment)
  return merged


# The Jinja environment of transformers' _compile_jinja_template, one per process.

# (rendered blocks, generation spans) of the rendering in progress in this thread or task.
_GENERATION_TRACKING = contextvars.ContextVar("chat_template_generation_tracking", default=None)


class _GenerationMarks(jinja2.ext.Extension):
  """`{% generation %}...{% endgeneration %}`: text the model generates (transformers'
  AssistantTracker, which return_assistant_tokens_mask and TRL's assistant_only_loss read)."""
  tags = {"generation"}

  def parse(self, parser):
    lineno = next(parser.stream).lineno
    body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
    return jinja2.nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

  def _mark(self, caller):
    text = caller()
    tracking = _GENERATION_TRACKING.get()
    if tracking is not None:
      blocks, spans = tracking
      start = sum(len(block) for block in blocks)
      spans.append((start, start + len(text)))
    return text


def _raise_exception(message):
  raise jinja2.exceptions.TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
  # Jinja's own tojson escapes <, >, & and ' for HTML, which would change what models are shown.
  return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                    sort_keys=sort_keys)


def _strftime_now(format):
  return datetime.datetime.now().strftime(format)


class _TemplateDict:
  """`dict(...)` for templates without the dict type itself, whose attributes reach Python's
  internals (transformers' TemplateDict)."""

  def __call__(self, *args, **kwargs):
    return dict(*args, **kwargs)

  def fromkeys(self, *args, **kwargs):
    return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
  """Jinja's namespace() refusing underscore-prefixed attributes (transformers' TemplateNamespace):
  they are the way out of the sandbox."""

  def __init__(*args, **kwargs):  # Jinja's signature trick, so namespace(self=...) still works
    self, args = args[0], args[1:]
    attributes = dict(*args, **kwargs)
    for name in attributes:
      _TemplateNamespace._check_name(name)
    jinja2.utils.Namespace.__init__(self, attributes)

  def __setitem__(self, name, value):
    _TemplateNamespace._check_name(name)
    jinja2.utils.Namespace.__setitem__(self, name, value)

  @staticmethod
  def _check_name(name):
    if isinstance(name, str) and name.startswith("_"):
      raise jinja2.exceptions.SecurityError(
          f"chat templates cannot store underscore-prefixed attributes on a namespace ({name!r})")


def _environment():
  environment = jinja2.sandbox.ImmutableSandboxedEnvironment(
      trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationMarks, jinja2.ext.loopcontrols])
  environment.filters["tojson"] = _tojson
  environment.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now,
                             dict=_TemplateDict(), namespace=_TemplateNamespace)
  return environment


_ENVIRONMENT = _environment()


# Where templates come from.


class NoChatTemplate(UserError):
  """Neither the flag nor the checkpoint gives a template (base models): callers may fall back."""


def resolve(flag: Optional[str] = None, *, checkpoint_dir: Optional[str] = None,
            gguf_template: Optional[str] = None,
            special_tokens: Optional[Mapping[str, str]] = None,
            variables: Optional[Mapping[str, Any]] = None) -> ChatTemplate:
  """The template a run uses: --chat_template (`flag`) when given, else the checkpoint's own (a
  Hugging Face `checkpoint_dir`, or a GGUF's `tokenizer.chat_template` string read by the GGUF
  reader). Special tokens come from the checkpoint's tokenizer files, overridden by
  `special_tokens` (a GGUF's tokens, or a tokenizer that adds its own)."""
  named = checkpoint_templates(checkpoint_dir) if checkpoint_dir else {}
  tokens = {**(checkpoint_special_tokens(checkpoint_dir) if checkpoint_dir else {}),
            **(special_tokens or {})}
  if flag:
    template, source = _from_flag(flag, named, checkpoint_dir)
  elif named:
    template, source = _default_template(named, checkpoint_dir)
  elif gguf_template:
    template, source = gguf_template, "the GGUF checkpoint's tokenizer.chat_template"
  else:
    raise NoChatTemplate(f"{checkpoint_dir or 'the checkpoint'} has no chat template: pass "
                         f"--chat_template={' or '.join(BUILTIN_TEMPLATES)} or the path of a Jinja file")
  return ChatTemplate(template, source, tokens, variables)


def _from_flag(flag, named, checkpoint_dir) -> Tuple[str, str]:
  if flag in named:
    return named[flag], f"chat template {flag!r} of {checkpoint_dir}"
  if flag in BUILTIN_TEMPLATES:
    return BUILTIN_TEMPLATES[flag], f"built-in chat template {flag!r}"
  if "{{" in flag or "{%" in flag:
    return flag, "--chat_template"
  if os.path.isfile(flag):
    return text_files.read_utf8(flag), flag
  names = list(BUILTIN_TEMPLATES) + [name for name in named if name not in BUILTIN_TEMPLATES]
  raise UserError(f"--chat_template={flag} is neither a template name ({', '.join(names)}) nor an "
                  "existing Jinja file: pass one of those names or a file's path")


def _default_template(named, checkpoint_dir) -> Tuple[str, str]:
  if "default" not in named:
    raise UserError(f"{checkpoint_dir} has several chat templates and none is named 'default': "
                    f"pass --chat_template=<{'|'.join(sorted(named))}>")
  return named["default"], f"the chat template of {checkpoint_dir}"


def checkpoint_templates(directory: str) -> Dict[str, str]:
  """Name -> template of a Hugging Face checkpoint, as transformers reads them: chat_template.jinja
  ("default") and additional_chat_templates/<name>.jinja, or else tokenizer_config.json's
  `chat_template` (a string, or a list of {name, template}). Empty when it has none."""
  templates = {}
  if os.path.isfile(os.path.join(directory, "chat_template.jinja")):
    templates["default"] = text_files.read_utf8(os.path.join(directory, "chat_template.jinja"))
  extra = os.path.join(directory, "additional_chat_templates")
  for name in sorted(os.listdir(extra)) if os.path.isdir(extra) else ():
    if name.endswith(".jinja"):
      templates[name[:-len(".jinja")]] = text_files.read_utf8(os.path.join(extra, name))
  if templates:  # transformers: template files take priority over the config's entries
    return templates
  value = _tokenizer_config(directory).get("chat_template")
  if value is None:
    return {}
  if isinstance(value, str):
    return {"default": value}
  if isinstance(value, list) and all(isinstance(item, dict) and isinstance(item.get("name"), str)
                                     and isinstance(item.get("template"), str) for item in value):
    return {item["name"]: item["template"] for item in value}
  raise UserError(f"{os.path.join(directory, 'tokenizer_config.json')}: 'chat_template' must be a "
                  "string or a list of {name, template} objects: fix the file")


def checkpoint_special_tokens(directory: str) -> Dict[str, str]:
  """The special tokens templates see, from tokenizer_config.json (older checkpoints keep them in
  special_tokens_map.json); a token is a string or an AddedToken object with `content`."""
  config = _tokenizer_config(directory)
  legacy = _json_object(os.path.join(directory, "special_tokens_map.json"))
  tokens = {}
  for name in SPECIAL_TOKEN_NAMES:
    value = config.get(name, legacy.get(name))
    text = value.get("content") if isinstance(value, dict) else value
    if isinstance(text, str):
      tokens[name] = text
  return tokens


def _tokenizer_config(directory) -> Dict[str, Any]:
  return _json_object(os.path.join(directory, "tokenizer_config.json"))


def _json_object(path) -> Dict[str, Any]:
  """A JSON file's object; {} when the file does not exist."""
  if not os.path.isfile(path):
    return {}
  try:
    value = json.loads(text_files.read_utf8(path))
  except json.JSONDecodeError as error:
    raise UserError(f"{path} line {error.lineno} is not valid JSON ({error.msg}): fix the "
                    "file") from None
  if not isinstance(value, dict):
    raise UserError(f"{path} is not a JSON object: fix the file")
  return value

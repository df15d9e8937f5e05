"""Chat templates render as transformers' apply_chat_template does, and split into trainable text.

The reference is transformers itself (the [test] extra installs it; its chat-template code needs no
torch), so a difference in whitespace handling, globals, filters or the sandbox shows up here.
"""

import json
import os

import pytest

from conftest import shared_path
from tfsft.data import chat_template
from tfsft.data.chat_template import BUILTIN_TEMPLATES, ChatTemplate, Segment
from tfsft.errors import UserError

TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

# HuggingFaceTB/SmolLM2-135M-Instruct, as in the GGUF under $TFSFT_TEST_MODELS (tested below):
# ChatML with a default system message.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}")
# meta-llama/Meta-Llama-3-8B-Instruct: bos_token, `| trim`, loop.index0.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
# TRL's trl/chat_templates/llama3_training.jinja: Llama 3 with {% generation %} marks.
LLAMA3_TRAINING = (
    "{%- for message in messages %}\n"
    "    {%- if loop.index0 == 0 %}{{- bos_token }}{%- endif %}\n"
    "    {%- if message['role'] == 'assistant' %}\n"
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "        {%- generation %}\n"
    "        {{- message['content'] | trim + '<|eot_id|>' }}\n"
    "        {%- endgeneration %}\n"
    "    {%- else %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n")
# HuggingFaceH4/zephyr-7b-beta: newlines between tags (trim_blocks), loop.last, eos_token.
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}")
# meta-llama/Llama-2-7b-chat-hf: the system message folded into the first user turn,
# raise_exception, str methods.
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}")
# The system handling of mistralai/Mistral-7B-Instruct-v0.3 (its tool calls left out): the system
# prompt goes into the *last* user turn, so the template is not prefix-stable.
MISTRAL_V03 = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}"
    "{%- endif %}{{- bos_token }}{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{- raise_exception('After the "
    "optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{%- endif %}{%- if message['role'] == 'user' %}"
    "{%- if loop.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}{%- else %}"
    "{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content']|trim + eos_token }}"
    "{%- endif %}{%- endfor %}")
# Indented blocks: lstrip_blocks and trim_blocks decide every space here.
INDENTED = (
    "{% for message in messages %}\n"
    "    {% if message.role == 'user' %}\n"
    "    User: {{ message.content }}\n"
    "    {% else %}\n"
    "    {{ message.role | capitalize }}: {{ message.content }}\n"
    "    {% endif %}\n"
    "{% endfor %}\n"
    "{% if add_generation_prompt %}    Assistant:{% endif %}\n")
# The globals, filters and extensions transformers adds: namespace, loopcontrols, tojson (no HTML
# escaping), dict, strftime_now, tools=None.
FEATURES = (
    "{%- set ns = namespace(turns=0, last_user='') -%}\n"
    "{%- for message in messages -%}\n"
    "  {%- if message['role'] == 'system' -%}{%- continue -%}{%- endif -%}\n"
    "  {%- set ns.turns = ns.turns + 1 -%}\n"
    "  {%- if message['role'] == 'user' -%}{%- set ns.last_user = message['content'] -%}"
    "{%- endif -%}\n"
    "  {{- (dict(role=message['role'], text=message['content'], n=ns.turns) | tojson) + '\\n' -}}\n"
    "  {%- if ns.turns >= 3 -%}{%- break -%}{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if tools is not none or documents is not none -%}{{- raise_exception('no tools') -}}"
    "{%- endif -%}\n"
    "{{- 'turns=' ~ ns.turns ~ ' of ' ~ (messages | length) ~ ' last_user=' ~ "
    "(ns.last_user | tojson(indent=1)) ~ ' year=' ~ strftime_now('%Y') ~ ' systems=' ~ "
    "(messages | selectattr('role', 'equalto', 'system') | list | length) -}}\n"
    "{%- if add_generation_prompt -%}{{- '\\n>>> ' -}}{%- endif -%}")

TEMPLATES = {"smollm2": SMOLLM2, "llama3": LLAMA3, "llama3_training": LLAMA3_TRAINING,
             "zephyr": ZEPHYR, "llama2": LLAMA2, "mistral_v03": MISTRAL_V03, "indented": INDENTED,
             "features": FEATURES, **BUILTIN_TEMPLATES}

SINGLE = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
MULTI = [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
         {"role": "user", "content": "Capital of France?"},
         {"role": "assistant", "content": "Paris."}]
# Content that looks like Jinja, HTML and JSON escapes, with spaces that `trim` removes.
TRICKY = [{"role": "user", "content": "  {{ not jinja }} {% raw %} <b>café</b> & \"quotes\"\n"},
          {"role": "assistant", "content": "  spaced\n\nanswer \n"}]
OPEN = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
NOT_ALTERNATING = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
CONVERSATIONS = {"single": SINGLE, "multi": MULTI, "tricky": TRICKY, "open": OPEN,
                 "not_alternating": NOT_ALTERNATING}


@pytest.fixture(scope="module")
def transformers():
  return pytest.importorskip("transformers", reason="pip install -e '.[test]' installs it")


@pytest.fixture(scope="module")
def hf_tokenizer(transformers):
  """A tokenizer that only carries special tokens: apply_chat_template(tokenize=False) needs no
  vocabulary."""
  from tokenizers import Tokenizer, models
  vocabulary = {"<unk>": 0, "<s>": 1, "</s>": 2}
  return transformers.PreTrainedTokenizerFast(
      tokenizer_object=Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>")), **TOKENS)


def _ours(name, messages, add_generation_prompt):
  return ChatTemplate(TEMPLATES[name], name, TOKENS).render(messages, add_generation_prompt)


@pytest.mark.parametrize("add_generation_prompt", [False, True])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_renderings_match_transformers(hf_tokenizer, name, conversation, add_generation_prompt):
  import jinja2
  messages = CONVERSATIONS[conversation]
  try:
    expected = hf_tokenizer.apply_chat_template(messages, chat_template=TEMPLATES[name],
                                                tokenize=False,
                                                add_generation_prompt=add_generation_prompt)
  except jinja2.TemplateError as error:  # raise_exception: we must refuse with the same message
    with pytest.raises(UserError, match=f"cannot render this conversation: {error}"):
      _ours(name, messages, add_generation_prompt)
    return
  assert _ours(name, messages, add_generation_prompt) == expected


def test_the_sandbox_refuses_what_transformers_refuses(hf_tokenizer):
  import jinja2
  for template in ("{{ messages.append(1) }}", "{% set ns = namespace(_x=1) %}",
                   "{% set ns = namespace() %}{% set ns._y = 2 %}", "{{ ''.__class__.__mro__ }}"):
    with pytest.raises(jinja2.exceptions.SecurityError):
      hf_tokenizer.apply_chat_template(SINGLE, chat_template=template, tokenize=False)
    with pytest.raises(UserError, match="cannot render this conversation: .*(unsafe|underscore)"):
      ChatTemplate(template, "test").render(SINGLE)


def test_generation_marks_give_the_spans_transformers_gives_and_prefixes_agree(transformers):
  from transformers.utils.chat_template_utils import render_jinja_template
  (text,), (spans,) = render_jinja_template([MULTI], chat_template=LLAMA3_TRAINING,
                                            return_assistant_tokens_mask=True, **TOKENS)
  marked = ChatTemplate(LLAMA3_TRAINING, "llama3_training", TOKENS).segments(MULTI)
  assert "".join(segment.text for segment in marked) == text
  assert [segment.text for segment in marked if segment.trainable] == [
      text[start:end] for start, end in spans] == ["Hello.<|eot_id|>", "Paris.<|eot_id|>"]
  # The original Llama 3 template has no marks: diffing its prefixes finds the same text.
  assert ChatTemplate(LLAMA3, "llama3", TOKENS).segments(MULTI) == marked


def _trainable(name, messages):
  return [segment.text for segment in ChatTemplate(TEMPLATES[name], name, TOKENS).segments(messages)
          if segment.trainable]


def test_trainable_text_is_each_assistant_turn_with_its_end_of_turn_text():
  assert _trainable("chatml", MULTI) == ["Hello.<|im_end|>\n", "Paris.<|im_end|>\n"]
  assert _trainable("smollm2", MULTI) == ["Hello.<|im_end|>\n", "Paris.<|im_end|>\n"]
  assert _trainable("llama3", TRICKY) == ["spaced\n\nanswer<|eot_id|>"]  # the template trims
  assert _trainable("zephyr", MULTI) == ["Hello.</s>\n", "Paris.</s>\n"]
  assert _trainable("llama2", MULTI) == [" Hello. </s>", " Paris. </s>"]
  assert _trainable("alpaca", MULTI) == ["Hello.</s>", "Paris.</s>"]


@pytest.mark.parametrize("conversation", ["single", "multi", "tricky", "open"])
@pytest.mark.parametrize("name", ["smollm2", "llama3", "llama3_training", "zephyr", "llama2",
                                  "indented", "alpaca", "chatml"])
def test_segments_cover_the_rendering_and_only_assistant_text_is_trainable(name, conversation):
  messages = CONVERSATIONS[conversation]
  template = ChatTemplate(TEMPLATES[name], name, TOKENS)
  segments = template.segments(messages)
  assert "".join(segment.text for segment in segments) == template.render(messages)
  assert all(a.trainable != b.trainable for a, b in zip(segments, segments[1:]))
  answers = [message["content"].strip() for message in messages if message["role"] == "assistant"]
  trainable = [segment.text for segment in segments if segment.trainable]
  assert len(trainable) == len(answers)
  for answer, text in zip(answers, trainable):
    assert answer in text
    assert not any(message["content"].strip() in text for message in messages
                   if message["role"] != "assistant")
  if messages[-1]["role"] == "assistant":  # what precedes the last answer is the inference prompt
    assert "".join(s.text for s in segments[:-1]) == template.prompt(messages[:-1])


def test_a_conversation_ending_with_a_user_turn_ends_untrainable():
  segments = ChatTemplate(BUILTIN_TEMPLATES["chatml"], "chatml").segments(MULTI + OPEN[1:])
  assert segments[-1] == Segment("<|im_start|>user\nHi<|im_end|>\n", False)


# Stanford Alpaca's train.py PROMPT_DICT: the reference the built-in alpaca template must match.
STANFORD_PROMPTS = {
    "prompt_input": (
        "Below is an instruction that describes a task, paired with an input that provides further "
        "context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"),
    "prompt_no_input": (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"),
}


def _assert_stanford_alpaca(records, conversations):
  template = chat_template.resolve("alpaca", special_tokens={"eos_token": "</s>"})
  for record, conversation in zip(records, conversations):
    prompt = STANFORD_PROMPTS["prompt_input" if record.get("input") else "prompt_no_input"]
    assert template.segments(conversation) == [Segment(prompt.format_map(record), False),
                                               Segment(record["output"] + "</s>", True)]
    assert template.prompt(conversation[:1]) == prompt.format_map(record)


def test_the_alpaca_template_is_stanford_alpacas_prompt(tmp_path):
  from tfsft.data import instructions
  records = [{"instruction": "Name a colour.", "input": "", "output": "Blue."},
             {"instruction": "Translate.", "input": "Good morning", "output": "Bonjour"}]
  path = tmp_path / "alpaca.json"
  path.write_text(json.dumps(records))
  _assert_stanford_alpaca(records, instructions.read_file(str(path)).conversations)


def test_the_alpaca_template_on_the_real_alpaca_sample():
  from tfsft.data import instructions
  path = shared_path("TFSFT_TEST_DATA", "alpaca", "alpaca_data_sample.json")
  with open(path, encoding="utf-8") as handle:
    records = json.load(handle)
  _assert_stanford_alpaca(records, instructions.read_file(path).conversations)


def test_the_smollm2_template_is_the_one_in_the_gguf():
  path = shared_path("TFSFT_TEST_MODELS", "smollm2-135m-instruct",
                     "SmolLM2-135M-Instruct-Q4_1.gguf")
  gguf = pytest.importorskip("gguf")
  assert gguf.GGUFReader(path).fields["tokenizer.chat_template"].contents() == SMOLLM2


# Errors: one line each, naming the record (`where`), the template's source and the fix.

def _segments_error(template, messages, tokens=TOKENS):
  with pytest.raises(UserError) as error:
    ChatTemplate(template, "test template", tokens).segments(messages, where="train.jsonl line 3")
  return str(error.value)


def test_templates_that_are_not_prefix_stable_are_refused_with_the_fix():
  for template in (MISTRAL_V03, FEATURES):
    message = _segments_error(template, MULTI)
    assert message.startswith("train.jsonl line 3: the chat template (test template) is not "
                              "prefix-stable: ")
    assert "use a template that marks assistant text with {% generation %}" in message
  # Mistral v0.3 loses the system prompt once an answer follows it: even one turn is refused.
  assert "not prefix-stable" in _segments_error(MISTRAL_V03, MULTI[:3])


def test_other_segment_errors():
  hides_answers = ("{% for m in messages %}{{ m.role }}: {{ m.content if m.role == 'user' else "
                   "'(hidden)' }}\n{% endfor %}"
                   "{% if add_generation_prompt %}assistant: {% endif %}")
  assert "does not write assistant message 2's content after its generation prompt" in (
      _segments_error(hides_answers, SINGLE))
  assert "starts with an assistant message" in _segments_error(
      BUILTIN_TEMPLATES["chatml"], SINGLE[1:])
  marks_tools_only = ("{% for m in messages %}{% if m.role == 'tool' %}{% generation %}"
                      "{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}"
                      "{% endfor %}")
  assert "{% generation %} marks (test template) cover none of this conversation's assistant" in (
      _segments_error(marks_tools_only, SINGLE))
  assert _segments_error(LLAMA2, NOT_ALTERNATING) == (
      "train.jsonl line 3: the chat template (test template) cannot render this conversation: "
      "Conversation roles must alternate user/assistant/user/assistant/...")
  assert "ends each response with eos_token, and the tokenizer defines none" in _segments_error(
      BUILTIN_TEMPLATES["alpaca"], SINGLE, tokens={})


def test_invalid_jinja_is_refused_with_its_line():
  with pytest.raises(UserError, match=r"^my.jinja is not a valid Jinja chat template \(template "
                                      r"line 2: .*\): fix the template$"):
    ChatTemplate("{% for m in messages %}\n{{ m.content }", "my.jinja")


# Where templates come from.

def test_resolve_builtin_file_inline_and_gguf_templates(tmp_path):
  (tmp_path / "mine.jinja").write_text("{{ messages[0].content }}!")
  assert chat_template.resolve("chatml").render(SINGLE[:1]) == "<|im_start|>user\nHi<|im_end|>\n"
  assert chat_template.resolve(str(tmp_path / "mine.jinja")).render(SINGLE) == "Hi!"
  assert chat_template.resolve("{{ eos_token }}", special_tokens=TOKENS).render(SINGLE) == "</s>"
  from_gguf = chat_template.resolve(gguf_template=SMOLLM2, special_tokens=TOKENS)
  assert from_gguf.source == "the GGUF checkpoint's tokenizer.chat_template"
  with pytest.raises(UserError, match=r"^--chat_template=llama9 is neither a template name \("
                                      r"alpaca, chatml\) nor an existing Jinja file"):
    chat_template.resolve("llama9")
  with pytest.raises(UserError, match=r"^the checkpoint has no chat template: pass --chat_template"
                                      r"=alpaca or chatml or the path of a Jinja file"):
    chat_template.resolve()


def _checkpoint(hf_tokenizer, directory, template):
  hf_tokenizer.chat_template = template
  try:
    hf_tokenizer.save_pretrained(str(directory))
  finally:
    hf_tokenizer.chat_template = None
  return str(directory)


def test_checkpoint_templates_and_special_tokens_read_as_transformers_reads_them(
    transformers, hf_tokenizer, tmp_path):
  directory = _checkpoint(hf_tokenizer, tmp_path, {"default": LLAMA2, "tool_use": ZEPHYR})
  assert sorted(os.listdir(directory)) == ["additional_chat_templates", "chat_template.jinja",
                                           "tokenizer.json", "tokenizer_config.json"]
  reloaded = transformers.PreTrainedTokenizerFast.from_pretrained(directory)
  for name in (None, "tool_use"):
    ours = chat_template.resolve(name, checkpoint_dir=directory)
    assert ours.render(MULTI) == reloaded.apply_chat_template(MULTI, chat_template=name,
                                                              tokenize=False)
  assert chat_template.checkpoint_special_tokens(directory) == TOKENS
  # The flag wins over the checkpoint's template; given tokens win over the checkpoint's.
  chatml = chat_template.resolve("chatml", checkpoint_dir=directory,
                                 special_tokens={"eos_token": "<|im_end|>"})
  assert chatml.template == BUILTIN_TEMPLATES["chatml"]
  assert chatml.special_tokens == {**TOKENS, "eos_token": "<|im_end|>"}


def test_tokenizer_config_templates_and_added_token_objects(transformers, hf_tokenizer, tmp_path):
  """Older checkpoints keep templates in tokenizer_config.json, as a string or a named list."""
  directory = _checkpoint(hf_tokenizer, tmp_path, None)
  config_path = os.path.join(directory, "tokenizer_config.json")
  with open(config_path) as handle:
    config = json.load(handle)
  config["eos_token"] = {"__type": "AddedToken", "content": "</s>", "lstrip": False,
                         "normalized": False, "rstrip": False, "single_word": False,
                         "special": True}
  config["chat_template"] = [{"name": "default", "template": ZEPHYR},
                             {"name": "rag", "template": LLAMA3}]
  with open(config_path, "w") as handle:
    json.dump(config, handle)
  reloaded = transformers.PreTrainedTokenizerFast.from_pretrained(directory)
  for name in (None, "rag"):
    assert chat_template.resolve(name, checkpoint_dir=directory).render(MULTI) == (
        reloaded.apply_chat_template(MULTI, chat_template=name, tokenize=False))
  assert chat_template.checkpoint_special_tokens(directory)["eos_token"] == "</s>"


@pytest.mark.parametrize("chat_template_value,message", [
    ([{"name": "a", "template": "x"}, {"name": "b", "template": "y"}],
     "has several chat templates and none is named 'default': pass --chat_template=<a|b>"),
    (7, "'chat_template' must be a string or a list of {name, template} objects"),
])
def test_checkpoint_template_errors(tmp_path, chat_template_value, message):
  config = tmp_path / "tokenizer_config.json"
  config.write_text(json.dumps({"chat_template": chat_template_value}))
  with pytest.raises(UserError) as error:
    chat_template.resolve(checkpoint_dir=str(tmp_path))
  assert message in str(error.value)
  config.write_text("{oops")
  with pytest.raises(UserError, match="tokenizer_config.json line 1 is not valid JSON"):
    chat_template.resolve(checkpoint_dir=str(tmp_path))


def test_extra_variables_reach_the_template_as_transformers_passes_them(hf_tokenizer):
  template = "{{ eos_token }}{{ enable_thinking is defined and enable_thinking }}{{ bos_token }}"
  expected = hf_tokenizer.apply_chat_template(SINGLE, chat_template=template, tokenize=False,
                                              enable_thinking=False, bos_token="[BOS]")
  ours = ChatTemplate(template, "test", TOKENS, {"enable_thinking": False, "bos_token": "[BOS]"})
  assert ours.render(SINGLE) == expected == "</s>False[BOS]"

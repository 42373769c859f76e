#!/usr/bin/env python3
"""Regenerates chat_cases.json: Qwen3 chat-template renders with tools, tool
calls, tool results, reasoning_content and tojson edge cases.

The renderer is transformers' chat-template environment (transformers 4.51
`_compile_jinja_template`) rebuilt on plain jinja2: an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loopcontrols,
tojson = json.dumps(ensure_ascii=False, ...) and raise_exception.

    python3 gen_chat_cases.py ../../../shared/data/tokenizer/qwen3/tokenizer_config.json
"""
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

cfg = json.load(open(sys.argv[1]))
template = env.from_string(cfg["chat_template"])

weather = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Météo actuelle — \"quoted\", <b>&amp;</b>, back\\slash, tab\t, newline\n, emoji 🌦",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "city": {"type": "string", "description": "城市"},
                "days": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                "ratio": {"type": "number", "default": 0.5, "examples": [1e-05, 1e16, 2.0, -0.0, 123456.789]},
                "flags": {"type": "array", "items": {"type": "boolean"}, "default": [True, False, None]},
                "empty": {},
                "nothing": [],
            },
        },
    },
}
calc = {"type": "function", "function": {"name": "calc", "parameters": {"z": 1, "a": 2, "m": {"y": [], "b": {}}}}}

cases = []


def add(name, messages, tools=None, add_generation_prompt=True, enable_thinking=None):
    kw = dict(messages=messages, tools=tools, documents=None, add_generation_prompt=add_generation_prompt,
              eos_token=cfg["eos_token"], pad_token=cfg["pad_token"],
              additional_special_tokens=cfg["additional_special_tokens"])
    if enable_thinking is not None:
        kw["enable_thinking"] = enable_thinking
    cases.append({"name": name, "messages": messages, "tools": tools, "add_generation_prompt": add_generation_prompt,
                  "enable_thinking": enable_thinking, "text": template.render(**kw)})


sys_msg = {"role": "system", "content": "You are a helpful assistant."}
user = {"role": "user", "content": "What's the weather in Paris?"}
add("tools", [sys_msg, user], tools=[weather, calc])
add("tools_no_system", [user], tools=[weather], enable_thinking=False)
call = {"role": "assistant", "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                          "arguments": {"city": "Paris", "days": 2, "unit": "°C"}}},
                       {"type": "function", "function": {"name": "calc", "arguments": "{\"expr\": \"1+1\"}"}}]}
tool1 = {"role": "tool", "content": "{\"temp\": 21}"}
tool2 = {"role": "tool", "content": "2"}
add("tool_calls_and_results", [sys_msg, user, call, tool1, tool2], tools=[weather, calc])
add("tool_calls_then_answer", [user, call, tool1, tool2,
                                {"role": "assistant", "content": "<think>\nok\n</think>\n\nIt is 21 °C."},
                                {"role": "user", "content": "Thanks"}], tools=[weather], enable_thinking=True)
add("tool_call_with_content", [user, {"role": "assistant", "content": "Let me check.",
                                      "tool_calls": [{"name": "calc", "arguments": {"x": [1, 2.5, None]}}]},
                               {"role": "tool", "content": "<tool_response>x</tool_response>"}])
add("reasoning_content", [user, {"role": "assistant", "content": "Sunny.", "reasoning_content": "\nThink hard.\n"}],
    add_generation_prompt=False)
add("reasoning_after_last_query", [user, {"role": "user", "content": "<tool_response>r</tool_response>"},
                                   {"role": "assistant", "content": "<think>a</think>b"},
                                   {"role": "assistant", "content": "c", "reasoning_content": "d"}],
    add_generation_prompt=False)
add("system_in_middle", [user, {"role": "assistant", "content": "Hi"}, {"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "  spaced  \n"}], enable_thinking=False)
add("no_generation_prompt", [sys_msg, user], add_generation_prompt=False, enable_thinking=True)
add("empty_messages_content", [{"role": "user", "content": ""}])

out = {"reference": f"jinja2 {jinja2.__version__} with transformers' chat-template environment", "cases": cases}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat_cases.json"), "w") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(cases)} chat cases")

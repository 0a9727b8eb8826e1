"""The local llama.cpp server: real SmolLM2 and Gemma-3 answers through litellm, and serve-local."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported anywhere

from univar.errors import UserError  # noqa: E402
from univar.llm import local_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2", "gemma3"])
def test_model_answers_through_litellm(local_llm, name):
    import litellm

    api_base = local_llm.api_base(name)
    assert api_base.endswith("/v1")
    response = litellm.completion(
        model=f"openai/{name}",
        api_base=api_base,
        api_key="local",
        messages=[{"role": "user", "content": "Why do people value honesty? Answer briefly."}],
        max_tokens=24,
        temperature=0.0,
        timeout=120,
    )
    text = response.choices[0].message.content
    assert isinstance(text, str) and text.strip(), f"{name} returned empty content"
    assert response.usage.completion_tokens > 0


@pytest.mark.slow
def test_gemma3_keeps_the_system_prompt(local_llm):
    import litellm

    response = litellm.completion(
        model="openai/gemma3",
        api_base=local_llm.api_base("gemma3"),
        api_key="local",
        messages=[
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What matters most in life?"},
        ],
        max_tokens=24,
        temperature=0.0,
        timeout=120,
    )
    assert response.choices[0].message.content.strip()
    assert response.usage.prompt_tokens > 15  # the system text reached the prompt


def test_gemma3_prompt_is_question_and_answer_text_for_the_base_model():
    prompt = local_server.gemma3_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "Why?"}]},
        ]
    )
    assert prompt == "Be brief.\n\nQuestion: Hi\nAnswer: Hello.\n\nQuestion: Why?\nAnswer:"
    # the stops end an answer where the base model starts a new question ...
    assert "\nQuestion:" in local_server.GEMMA3_STOP
    # ... and a blank line only once the answer has begun (AnswerEnd): as a stop string it
    # also matched a reply that opened with one, which then came back empty
    assert "\n\n" not in local_server.GEMMA3_STOP


def test_answer_end_stops_at_a_blank_line_after_text_not_before():
    pieces = {1: b"Question: Why?\nAnswer:", 2: b" ", 3: b"\n\n", 4: b"Because", 5: b" so."}

    def detokenize(ids):
        return b"".join(pieces[i] for i in ids)

    end = local_server.AnswerEnd(detokenize)
    prompt = [1]
    assert not end(prompt, None)  # the first call: the prompt alone
    assert not end(prompt + [2], None)
    assert not end(prompt + [2, 3], None)  # a blank line before any text: go on
    assert not end(prompt + [2, 3, 4, 5], None)
    assert end(prompt + [2, 3, 4, 5, 3], None)  # a blank line after it: the answer's end


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown local model 'llama9'"):
        local_server.model_file("llama9")


def test_serve_local_refuses_a_remote_host_without_allow_remote():
    result = subprocess.run(
        [sys.executable, "-m", "univar", "serve-local", "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "0.0.0.0" in lines[0] and "--allow-remote" in lines[0]
    assert result.stdout == ""

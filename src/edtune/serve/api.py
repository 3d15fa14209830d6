"""The wire format at the serving boundary: OpenAI-compatible chat requests and replies, as pydantic models.

Only what edtune needs is modelled strictly (messages, text and image_url parts, `model`, `max_tokens`); other
OpenAI/TGI fields (temperature, top_p, stream=false, …) are accepted and ignored, because clients send them by
default and a local server that refused them would not be a drop-in stand-in for TGI or vLLM.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edtune.errors import InputError

BASE_NAME = "base"


class AdapterSpec(BaseModel):
    """`NAME=URI` from the command line: the name clients put in `model`, the adapter directory (path or s3://)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
    uri: str


def parse_adapter_spec(text: str) -> AdapterSpec:
    """Parse one `--adapter NAME=URI`; InputError (exit 2) names what is wrong."""
    name, sep, uri = text.partition("=")
    if not sep or not name.strip() or not uri.strip():
        raise InputError(f"--adapter {text!r}: expected NAME=URI (e.g. left-right=./runs/x/final/adapter)")
    if name.strip() == BASE_NAME:
        raise InputError(
            f"--adapter {text!r}: {BASE_NAME!r} is reserved for the base student without adapter"
        )
    try:
        return AdapterSpec(name=name.strip(), uri=uri.strip())
    except ValueError:
        raise InputError(
            f"--adapter {text!r}: the name may hold letters, digits and . _ : / - only"
        ) from None


class ImageURL(BaseModel):
    url: str


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageURL | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]


class ChatRequest(BaseModel):
    """POST /v1/chat/completions. `model` picks the adapter (vLLM, OpenAI); TGI clients may send `adapter_id`."""

    model_config = ConfigDict(extra="ignore")

    model: str = ""
    adapter_id: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    stream: bool = False

    def target(self) -> str:
        """The adapter asked for: TGI's `adapter_id` wins over `model` (TGI clients send model="tgi" or "")."""
        return (self.adapter_id or self.model or BASE_NAME).strip()


def completion(model: str, content: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """An OpenAI `chat.completion` object (what TGI and vLLM answer too)."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape, which the OpenAI SDK and huggingface_hub both surface to the caller."""
    return {"error": {"message": message, "type": kind, "code": code}}

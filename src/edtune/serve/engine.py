"""One base student with any number of LoRA adapters loaded side by side, answering chat requests.

Why one PeftModel with named adapters rather than one model per adapter: the base weights are the memory cost
(7B at bf16 is ~15 GB) and every adapter is a few MB, which is how TGI multi-LoRA and vLLM `--enable-lora` serve
too. Requests are answered one at a time under a lock (`set_adapter` switches the active adapter for the whole
model); generation is greedy with the student's own chat template, image fitting and token budget, so a served
adapter answers exactly what `edtune evaluate` would have computed for the same sample.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from typing import Any

from edtune.config import StudentConfig
from edtune.errors import EdtuneError, InputError, ModelError
from edtune.log import kv
from edtune.serve.api import BASE_NAME, AdapterSpec, ChatRequest, completion

log = logging.getLogger("edtune.serve")


class UnknownModel(EdtuneError):
    """The request named a model/adapter this server does not hold (HTTP 404, as vLLM and OpenAI answer)."""

    exit_code = 2


def decode_data_uri(url: str) -> bytes:
    """The bytes of a `data:image/...;base64,` URI. Remote URLs are refused: the server never fetches."""
    if not url.startswith("data:"):
        raise InputError("image_url: only data: URIs are accepted (the server does not fetch remote images)")
    head, sep, payload = url.partition(",")
    if not sep or ";base64" not in head:
        raise InputError("image_url: expected data:<mime>;base64,<payload>")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("image_url: the base64 payload does not decode") from None


class AdapterEngine:
    """Base student + named adapters; `chat()` answers one OpenAI-style request with the adapter it names."""

    def __init__(
        self,
        base: str,
        adapters: list[AdapterSpec],
        cfg: StudentConfig,
        cache_dir: str = "./edtune-data/cache",
    ) -> None:
        from edtune.student import load_student
        from edtune.student.checkpoint import resolve_local, verify_adapter_dir
        from edtune.student.hf import check_adapter

        names = [a.name for a in adapters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"--adapter: name(s) given twice: {', '.join(dup)}")
        self.base = base
        self.cfg = cfg
        self.student = load_student(base, cfg, adapter=None, cache_dir=cache_dir)
        self.adapter_dirs = {}
        for a in adapters:
            path = resolve_local(a.uri, cache_dir, what="adapter")
            verify_adapter_dir(
                path
            )  # nothing unverified is served: a manifest must exist and every file match
            check_adapter(path, self.student.fingerprint)  # safetensors only, trained on this very base
            self.adapter_dirs[a.name] = path
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def names(self) -> list[str]:
        return [BASE_NAME, *self.adapter_dirs]

    def load(self) -> None:
        """Load the base and every adapter now (a server should fail at start, not on its first request)."""
        if self._model is not None:
            return
        model = self.student.model  # the base, loaded and set to eval by the student
        if self.adapter_dirs:
            from peft import PeftModel

            first, *rest = self.adapter_dirs.items()
            try:
                model = PeftModel.from_pretrained(model, str(first[1]), adapter_name=first[0])
                for name, path in rest:
                    model.load_adapter(str(path), adapter_name=name)
            except Exception as exc:
                raise ModelError(
                    f"adapter does not fit base {self.base} ({type(exc).__name__}: {exc})"
                ) from None
            model.eval()
        self._model = model
        log.info(kv("serve.loaded", base=self.base, adapters=",".join(self.adapter_dirs) or "-"))

    def _inputs(self, req: ChatRequest) -> tuple[list[str], list[str], Any]:
        """(user texts, assistant texts, image or None) in the student's chat layout."""
        from edtune.io.images import decode_image
        from edtune.student.inputs import fit_image

        human: list[str] = []
        assistant: list[str] = []
        system: list[str] = []
        images: list[bytes] = []
        for m in req.messages:
            parts = [m.content] if isinstance(m.content, str) else []
            if not isinstance(m.content, str):
                for p in m.content:
                    if p.type == "text" and p.text is not None:
                        parts.append(p.text)
                    elif p.type == "image_url" and p.image_url is not None:
                        if m.role != "user":
                            raise InputError(f"messages: an image in a {m.role} message is not supported")
                        images.append(decode_data_uri(p.image_url.url))
            text = "\n".join(parts)
            {"system": system, "user": human, "assistant": assistant}[m.role].append(text)
        if not human:
            raise InputError("messages: no user message")
        if len(images) > 1:
            raise InputError(f"messages: {len(images)} images; the student takes one image per conversation")
        if system:
            human[0] = "\n".join([*system, human[0]])
        image = fit_image(decode_image(images[0], "image_url"), self.cfg.image_max_side) if images else None
        return human, assistant, image

    def chat(self, req: ChatRequest) -> dict[str, Any]:
        """Answer one request (greedy). UnknownModel for a name not served, InputError for a bad message."""
        import torch

        name = req.target()
        if name not in self.names:
            raise UnknownModel(f"model {name!r} is not served here; served: {', '.join(self.names)}")
        human, assistant, image = self._inputs(req)
        family = self.student.family
        processor = self.student.processor
        msgs = family.messages(human, assistant, with_image=image is not None)
        prompt = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        kw: dict[str, Any] = {"text": [prompt], "return_tensors": "pt", "padding": True}
        if image is not None:
            kw["images"] = [image]
        enc = processor(**kw)
        max_new = min(req.max_tokens or self.cfg.max_new_tokens, 4096)
        tok = processor.tokenizer
        with self._lock:
            self.load()
            model = self._model
            dev = next(model.parameters()).device
            dtype = self.student.dtype
            enc = {
                k: (v.to(dev, dtype=dtype) if v.is_floating_point() else v.to(dev)) for k, v in enc.items()
            }
            gen = {
                "max_new_tokens": max_new,
                "do_sample": False,
                "pad_token_id": tok.pad_token_id,
                "eos_token_id": tok.eos_token_id,
            }
            with torch.inference_mode():
                if name == BASE_NAME and self.adapter_dirs:
                    with model.disable_adapter():
                        out = model.generate(**enc, **gen)
                else:
                    if self.adapter_dirs:
                        model.set_adapter(name)
                    out = model.generate(**enc, **gen)
        new = out[0, enc["input_ids"].shape[1] :]
        text = tok.decode(new, skip_special_tokens=True).strip()
        n_new = int((new != tok.pad_token_id).sum()) if tok.pad_token_id is not None else int(new.numel())
        return completion(name, text, int(enc["input_ids"].shape[1]), n_new)

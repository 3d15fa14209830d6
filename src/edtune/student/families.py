"""Student families: one small class per architecture, registered by the name the config uses.

A family knows what the generic HF backend cannot guess: which `model_type`s it accepts, how to build its
processor *explicitly* (without torchvision `AutoProcessor` degrades silently to a bare tokenizer, and the
Qwen2-VL / OneVision processors crash on their video slot), and how to make a tiny model of its architecture
from config for CPU tests. Adding a family touches this file only (`@register_family`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from edtune.errors import ModelError

FAMILIES: dict[str, type[Family]] = {}


def register_family(name: str) -> Callable[[type[Family]], type[Family]]:
    def deco(cls: type[Family]) -> type[Family]:
        cls.name = name
        FAMILIES[name] = cls
        return cls

    return deco


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]()
    except KeyError:
        raise ModelError(f"unknown student family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None


def _chat_template(model_dir: Path, tokenizer: Any) -> str | None:
    """Where checkpoints keep their chat template, newest convention first."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    js = model_dir / "chat_template.json"
    if js.is_file():
        return json.loads(js.read_text()).get("chat_template")
    return getattr(tokenizer, "chat_template", None)


def _load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    except Exception as exc:
        raise ModelError(f"{model_dir}: cannot load the tokenizer ({type(exc).__name__}: {exc})") from None
    return tok


class Family:
    """What differs between architectures. Subclasses set the class attributes and build the processor."""

    name: ClassVar[str] = ""
    model_types: ClassVar[tuple[str, ...]] = ()
    image_token: ClassVar[str] = "<image>"
    #: the model's forward needs `mm_token_type_ids` (M-RoPE positions in Qwen2-VL)
    needs_mm_token_type_ids: ClassVar[bool] = False

    def load_processor(self, model_dir: Path) -> Any:
        raise NotImplementedError

    def check_processor(self, proc: Any, model_dir: Path) -> Any:
        if not hasattr(proc, "image_processor") or not hasattr(proc, "tokenizer"):
            raise ModelError(f"{model_dir}: expected a multimodal processor, got {type(proc).__name__}")
        if proc.tokenizer.convert_tokens_to_ids(self.image_token) in (None, proc.tokenizer.unk_token_id):
            raise ModelError(f"{model_dir}: the tokenizer has no image token {self.image_token!r}")
        return proc

    @staticmethod
    def messages(human: list[str], assistant: list[str], with_image: bool) -> list[dict[str, Any]]:
        """Chat messages in the processor's content-part format; the image goes in the first user turn."""
        msgs: list[dict[str, Any]] = []
        for i, h in enumerate(human):
            content: list[dict[str, Any]] = []
            if i == 0 and with_image:
                content.append({"type": "image"})
            content.append({"type": "text", "text": h})
            msgs.append({"role": "user", "content": content})
            if i < len(assistant):
                msgs.append({"role": "assistant", "content": [{"type": "text", "text": assistant[i]}]})
        return msgs


# ---------------------------------------------------------------- Qwen2-VL (and Qwen2.5-VL checkpoints' processor)

QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_processor_cls() -> type:
    from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2-VL's processor without the video slot (its video processor needs torchvision)."""

        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kw: Any
        ):
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return ImageOnlyQwen2VLProcessor


@register_family("qwen2-vl")
class Qwen2VLFamily(Family):
    model_types = ("qwen2_vl", "qwen2_5_vl")
    image_token = "<|image_pad|>"
    needs_mm_token_type_ids = True

    def load_processor(self, model_dir: Path) -> Any:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        tok = _load_tokenizer(model_dir)
        try:
            ip = Qwen2VLImageProcessorPil.from_pretrained(str(model_dir))
        except Exception as exc:
            raise ModelError(f"{model_dir}: cannot load the image processor ({exc})") from None
        proc = qwen_processor_cls()(ip, tok, chat_template=_chat_template(model_dir, tok) or QWEN_TEMPLATE)
        return self.check_processor(proc, model_dir)


# ---------------------------------------------------------------- LLaVA-1.5 (llava-hf format)

LLAVA_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{% if message['role'] == 'user' %} {% else %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)


@register_family("llava")
class LlavaFamily(Family):
    model_types = ("llava",)
    image_token = "<image>"

    def load_processor(self, model_dir: Path) -> Any:
        from transformers import LlavaProcessor
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        tok = _load_tokenizer(model_dir)
        try:
            ip = CLIPImageProcessorPil.from_pretrained(str(model_dir))
        except Exception as exc:
            raise ModelError(f"{model_dir}: cannot load the image processor ({exc})") from None
        pcfg = _processor_config(model_dir)
        mcfg = json.loads((model_dir / "config.json").read_text())
        proc = LlavaProcessor(
            image_processor=ip,
            tokenizer=tok,
            patch_size=pcfg.get("patch_size") or mcfg.get("vision_config", {}).get("patch_size", 14),
            vision_feature_select_strategy=pcfg.get("vision_feature_select_strategy")
            or mcfg.get("vision_feature_select_strategy", "default"),
            num_additional_image_tokens=pcfg.get("num_additional_image_tokens", 1),
            chat_template=_chat_template(model_dir, tok) or LLAVA_TEMPLATE,
            image_token=self.image_token,
        )
        return self.check_processor(proc, model_dir)


# ---------------------------------------------------------------- LLaVA-OneVision (real checkpoints only)


@register_family("llava-onevision")
class LlavaOnevisionFamily(Family):
    """Loads real llava-onevision-hf checkpoints; no tiny model (its anyres tiling needs a larger vision tower)."""

    model_types = ("llava_onevision",)
    image_token = "<image>"

    def load_processor(self, model_dir: Path) -> Any:
        from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
            LlavaOnevisionImageProcessorPil,
        )
        from transformers.models.llava_onevision.processing_llava_onevision import LlavaOnevisionProcessor
        from transformers.processing_utils import ProcessorMixin

        class ImageOnlyOnevisionProcessor(LlavaOnevisionProcessor):
            def __init__(
                self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kw: Any
            ):
                self.num_image_tokens = kw.get("num_image_tokens")
                self.vision_feature_select_strategy = kw.get("vision_feature_select_strategy")
                self.image_token = getattr(tokenizer, "image_token", None) or "<image>"
                self.video_token = getattr(tokenizer, "video_token", None) or "<video>"
                self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
                self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
                self.vision_aspect_ratio = kw.get("vision_aspect_ratio", "anyres_max_9")
                ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

        tok = _load_tokenizer(model_dir)
        try:
            ip = LlavaOnevisionImageProcessorPil.from_pretrained(str(model_dir))
        except Exception as exc:
            raise ModelError(f"{model_dir}: cannot load the image processor ({exc})") from None
        pcfg = _processor_config(model_dir)
        proc = ImageOnlyOnevisionProcessor(
            ip,
            tok,
            chat_template=_chat_template(model_dir, tok),
            num_image_tokens=pcfg.get("num_image_tokens"),
            vision_feature_select_strategy=pcfg.get("vision_feature_select_strategy"),
            vision_aspect_ratio=pcfg.get("vision_aspect_ratio", "anyres_max_9"),
        )
        return self.check_processor(proc, model_dir)


def _processor_config(model_dir: Path) -> dict[str, Any]:
    p = model_dir / "processor_config.json"
    if not p.is_file():
        return {}
    data = json.loads(p.read_text())
    return {k: v for k, v in data.items() if not isinstance(v, dict)}


def set_processor_class(out_dir: Path, name: str) -> None:
    """Record the upstream processor class (not our image-only subclass) so other tools recognise the dir."""
    p = out_dir / "processor_config.json"
    if p.is_file():
        data = json.loads(p.read_text())
        data["processor_class"] = name
        p.write_text(json.dumps(data, indent=2) + "\n")

"""Tiny students built from config (a few hundred K parameters), saved as ordinary HF checkpoint dirs.

They exist because no model hub is reachable offline: each is a real architecture of a product student family
(`edtune.student.families`) at a toy size, with a byte-level BPE trained locally on shapes-world text, so tests and
the demo go through the same `from_pretrained` paths as production checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edtune.errors import ModelError
from edtune.student.families import (
    LLAVA_SPECIALS,
    LLAVA_TEMPLATE,
    QWEN_SPECIALS,
    QWEN_TEMPLATE,
    qwen_processor_cls,
    set_processor_class,
)

Overrides = dict[str, dict[str, Any]] | None


def _tiny_qwen2_vl(out_dir: Path, seed: int, overrides: dict[str, dict[str, Any]] | None = None) -> None:
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from edtune.shapes.student.tokenizer import train_bpe

    tok = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(QWEN_SPECIALS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=QWEN_SPECIALS[1:],
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    head_dim = 32
    cfg = Qwen2VLConfig(
        text_config={
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": len(tok),
            "max_position_embeddings": 2048,
            # interleaved M-RoPE: every frequency serves t, h and w (FACTS.md: left/right learnable)
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [1] * (head_dim // 2),
            },
            "tie_word_embeddings": True,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            **(overrides or {}).get("text_config", {}),
        },
        vision_config={
            "depth": 2,
            "embed_dim": 64,
            "hidden_size": 128,
            "num_heads": 4,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            **(overrides or {}).get("vision_config", {}),
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    ip = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    proc = qwen_processor_cls()(ip, tok, chat_template=QWEN_TEMPLATE)
    model.save_pretrained(str(out_dir))
    proc.save_pretrained(str(out_dir))
    set_processor_class(out_dir, "Qwen2VLProcessor")


def _tiny_llava(out_dir: Path, seed: int, overrides: dict[str, dict[str, Any]] | None = None) -> None:
    import torch
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from edtune.shapes.student.tokenizer import train_bpe

    tok = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(LLAVA_SPECIALS),
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<image>"],
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in LLAVA_SPECIALS}
    patch, side = 28, 112  # 4x4 = 16 image tokens
    cfg = LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": side,
            "patch_size": patch,
            "projection_dim": 64,
            **(overrides or {}).get("vision_config", {}),
        },
        text_config={
            "model_type": "llama",
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": len(tok),
            "max_position_embeddings": 2048,
            "tie_word_embeddings": True,
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
            "pad_token_id": ids["<pad>"],
            **(overrides or {}).get("text_config", {}),
        },
        image_token_id=ids["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.bos_token_id = ids["<s>"]
    ip = CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    proc = LlavaProcessor(
        image_processor=ip,
        tokenizer=tok,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
        image_token="<image>",
    )
    model.save_pretrained(str(out_dir))
    proc.save_pretrained(str(out_dir))


#: family name (as in `student.family`) -> builder; `overrides` = {"text_config": {...}, "vision_config": {...}}
TINY_BUILDERS: dict[str, Callable[[Path, int, Overrides], None]] = {
    "qwen2-vl": _tiny_qwen2_vl,
    "llava": _tiny_llava,
}
TINY_FAMILIES = tuple(TINY_BUILDERS)


def build_tiny_into(family: str, out_dir: Path, seed: int, overrides: Overrides = None) -> None:
    """Write a tiny random model of `family` into an existing `out_dir`."""
    try:
        builder = TINY_BUILDERS[family]
    except KeyError:
        raise ModelError(
            f"no tiny model is defined for family {family!r}; known: {', '.join(TINY_FAMILIES)}"
        ) from None
    builder(out_dir, seed, overrides)


def build_tiny(family: str, out_dir: str, seed: int = 0) -> str:
    """Build a randomly initialised tiny model of `family` (config, safetensors, tokenizer, processor) in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build_tiny_into(family, out, seed)
    return str(out)

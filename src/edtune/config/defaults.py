"""Where each product default comes from, so `edtune config show` can say why a value is what it is.

The defaults suit a 7B student (Qwen2-VL-7B-Instruct, LLaVA-1.5-7B) on one 80 GB GPU. A value not listed here
is an engineering default of edtune itself (docs/design.md); the tiny student of the offline harness overrides
some of these through its preset, never by changing them.
"""

from __future__ import annotations

#: dotted setting -> the source of its default (printed after "default" by `config show`)
DEFAULT_SOURCES: dict[str, str] = {
    "student.max_new_tokens": "lm-evaluation-harness generate_until max_gen_toks=256; a 7B's Step 1..k + Answer "
    "reply runs 60-200 tokens",
    "student.image_max_side": "LLaMA-Factory image_max_pixels=768*768 for Qwen2-VL; llava-hf resizes to 336 itself",
    "student.torch_threads": "torch's own default (all cores)",
    "student.batch_size": "batched greedy evaluation; fits a 7B in bf16 on one 80 GB GPU at 768 px",
    "teacher.model": "ask the server: TGI /info model_id, vLLM /v1/models",
    "teacher.image_max_side": "Qwen2-VL-72B / LLaVA teachers read 448 px without tiling",
    "teacher.max_tokens": "one MistakeReport JSON object fits in 256 tokens",
    "lora.r": "LLaMA-Factory examples/train_lora/qwen2vl_lora_sft.yaml lora_rank=8",
    "lora.alpha": "LLaMA-Factory lora_alpha default = 2 * lora_rank",
    "lora.lr": "LLaMA-Factory examples/train_lora/qwen2vl_lora_sft.yaml learning_rate=1.0e-4",
    "lora.epochs": "LLaVA-1.5 scripts/v1_5/finetune_lora.sh num_train_epochs=1",
    "lora.warmup_ratio": "LLaVA-1.5 scripts/v1_5/finetune_lora.sh warmup_ratio=0.03",
    "lora.scheduler": "LLaVA-1.5 and LLaMA-Factory: cosine",
    "lora.dropout": "LLaMA-Factory lora_dropout=0",
    "lora.answer_weight": "plain token cross-entropy, as LLaMA-Factory and LLaVA train (the tiny preset: 5)",
    "lora.target_modules": "LLaMA-Factory lora_target=all with freeze_vision_tower: every linear layer of the "
    "language model (same module names in Qwen2-VL and llava-hf under transformers 5)",
    "lora.bf16": "on when tuning on a GPU (Qwen2-VL and LLaVA ship bf16 weights)",
    "lora.gradient_checkpointing": "on when tuning on a GPU (LLaMA-Factory and LLaVA recipes)",
    "loop.budget_per_round": "4% of a 10,000-sample pool (benchmarks/README.md, the study's default budget)",
    "retrieval.mode": "BM25 as in the paper; measured best with grouped paraphrases (docs/retrieval.md)",
    "retrieval.answer_space": "the paper matches by skill alone (the tiny preset: on, docs/retrieval.md)",
    "retrieval.answer_space_turns": "the first reply, the one about the image (docs/retrieval.md)",
    "retrieval.balance_answers": "the paper keeps the pool's answer mix (docs/retrieval.md)",
    "retrieval.min_score_ratio": "half the query's best BM25 score: where the demo world's left/right matches end "
    "(docs/retrieval.md)",
}


def source_of_default(dotted: str) -> str:
    """`default` plus its reason where one is recorded."""
    why = DEFAULT_SOURCES.get(dotted)
    return f"default ({why})" if why else "default"

"""A 7B-shaped student probe: LoRA steps and one batched evaluation at the real shape, no download.

    python -m benchmarks.gpu_probe --shape 7b --steps 20 --batch 4            # on one GPU (a few minutes)
    python -m benchmarks.gpu_probe --shape tiny --steps 3 --batch 2 --out X   # on CPU, in CI (seconds)

Builds Qwen2-VL from its config (the 7B shape of Qwen/Qwen2-VL-7B-Instruct's config.json, random weights) in bf16,
attaches the product's LoRA (`edtune.config.LoraConfig`: the same target modules, r and alpha a run uses), turns on
gradient checkpointing as the tune stage does on a GPU, runs `--steps` optimizer steps on synthetic batches of the
run's shape (one image of `--image-side` px, a question and a Step/Answer reply), then one batched greedy
generation of `--new-tokens` tokens. It writes samples/s, tokens/s, peak GPU memory and MFU to
`benchmarks/results/gpu_probe-<shape>-<device>.json`. Random weights change no FLOP and no byte: throughput and
memory are those of the real checkpoint at the same shapes (answers are not, and are not measured).

MFU counts model FLOPs only (PaLM's convention): a trained token costs 2N (forward) + 2N (activation gradients;
the frozen base has no weight gradients) = 4N FLOPs; recomputation under gradient checkpointing is not credited.
N counts the language model and vision tower parameters that the token passes; see `model_flops_per_token`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# Qwen/Qwen2-VL-7B-Instruct config.json (text and vision towers), and a tiny shape with the same structure
SHAPES: dict[str, dict[str, Any]] = {
    "7b": {
        "text": {
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
            "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
            "tie_word_embeddings": False,
        },
        "vision": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "num_heads": 16, "mlp_ratio": 4},
        "tokens": {"image": 151655, "video": 151656, "start": 151652, "end": 151653},
    },
    "tiny": {
        "text": {
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 1024,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [4, 6, 6]},
            "tie_word_embeddings": True,
        },
        "vision": {"depth": 2, "embed_dim": 64, "hidden_size": 128, "num_heads": 4, "mlp_ratio": 2},
        "tokens": {"image": 1000, "video": 1001, "start": 1002, "end": 1003},
    },
}
# dense bf16 peak (no sparsity) per device name fragment, TFLOP/s: NVIDIA data sheets
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


def build_model(shape: str, device: str, dtype: Any) -> Any:
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    s = SHAPES[shape]
    tok = s["tokens"]
    cfg = Qwen2VLConfig(
        text_config={**s["text"], "eos_token_id": 0, "pad_token_id": 0, "bos_token_id": 0},
        vision_config={**s["vision"], "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=tok["image"],
        video_token_id=tok["video"],
        vision_start_token_id=tok["start"],
        vision_end_token_id=tok["end"],
        tie_word_embeddings=s["text"]["tie_word_embeddings"],
    )
    torch.manual_seed(0)
    with torch.device(device):  # weights are created on the device: no 16 GB detour through host memory
        model = Qwen2VLForConditionalGeneration._from_config(cfg, dtype=dtype)
    return model.eval()


def make_batch(
    shape: str, batch: int, image_side: int, prompt_len: int, answer_len: int, device: str
) -> dict:
    """Synthetic inputs exactly as the processor lays them out: <vision_start> image pads <vision_end> text."""
    import torch

    s = SHAPES[shape]
    tok, vocab = s["tokens"], s["text"]["vocab_size"]
    grid = image_side // 14
    n_img = grid * grid // 4
    g = torch.Generator().manual_seed(1)
    text = torch.randint(10, min(vocab, 900), (batch, prompt_len + answer_len), generator=g)
    head = torch.tensor([tok["start"], *([tok["image"]] * n_img), tok["end"]]).repeat(batch, 1)
    ids = torch.cat([head, text], dim=1)
    labels = ids.clone()
    labels[:, : head.shape[1] + prompt_len] = -100  # loss on the reply only, as the tune stage masks it
    pixels = torch.randn(batch * grid * grid, 3 * 2 * 14 * 14, generator=g)
    thw = torch.tensor([[1, grid, grid]] * batch)
    out = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "mm_token_type_ids": (ids == tok["image"]).long(),  # 1 on image tokens, as the processor returns it
        "labels": labels,
        "pixel_values": pixels,
        "image_grid_thw": thw,
    }
    return {k: v.to(device) for k, v in out.items()}


def model_flops_per_token(model: Any, image_tokens: int, seq_len: int) -> float:
    """2 x parameters a token passes (language model; the vision tower amortised over the sequence's tokens)."""
    skip = ("lora_", "embed_tokens")  # a lookup is no matmul; LoRA's FLOPs are < 1% of the base's
    lm = sum(
        p.numel() for n, p in model.named_parameters() if "visual" not in n and not any(s in n for s in skip)
    )
    vis = sum(p.numel() for n, p in model.named_parameters() if "visual" in n and "lora_" not in n)
    patches_per_token = 4 * image_tokens / seq_len  # the merger turns 4 patches into 1 token
    return 2.0 * (lm + vis * patches_per_token)


def peak_tflops(device_name: str | None, override: float | None) -> float | None:
    if override:
        return override
    for frag, tf in PEAK_TFLOPS.items():
        if device_name and frag in device_name:
            return tf
    return None


def probe(args: argparse.Namespace) -> dict[str, Any]:
    import warnings

    import torch
    from peft import LoraConfig as PeftLora
    from peft import get_peft_model

    from edtune.config import LoraConfig

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, not our concern here
    cuda = args.device == "cuda"
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if not cuda:
        torch.set_num_threads(max(1, args.threads))
    model = build_model(args.shape, args.device, dtype)
    lora = LoraConfig()
    model = get_peft_model(
        model,
        PeftLora(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules
        ),
    )
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lora.lr)
    batch = make_batch(args.shape, args.batch, args.image_side, args.prompt_len, args.answer_len, args.device)
    seq = batch["input_ids"].shape[1]
    image_tokens = (args.image_side // 14) ** 2 // 4
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    step_s: list[float] = []
    for _ in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        step_s.append(time.perf_counter() - t0)
    timed = step_s[args.warmup :]
    train_s = sum(timed)
    train_peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    model.eval()
    gen_in = {k: v for k, v in batch.items() if k != "labels"}
    gen_in["input_ids"] = gen_in["input_ids"][:, : seq - args.answer_len]
    for key in ("attention_mask", "mm_token_type_ids"):
        gen_in[key] = gen_in[key][:, : seq - args.answer_len]
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        sync()
        t0 = time.perf_counter()
        out = model.generate(
            **gen_in, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False
        )
        sync()
        gen_s = time.perf_counter() - t0
    new = (out.shape[1] - gen_in["input_ids"].shape[1]) * args.batch
    flops_tok = model_flops_per_token(model, image_tokens, seq)
    train_tok_s = args.batch * seq * args.steps / train_s
    name = torch.cuda.get_device_name(0) if cuda else None
    peak = peak_tflops(name, args.peak_tflops)
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "shape": args.shape,
        "device": name or "cpu",
        "dtype": args.dtype,
        "params": n_params,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "gradient_checkpointing": True,
        "lora": {"r": lora.r, "alpha": lora.alpha, "target_modules": lora.target_modules},
        "batch": args.batch,
        "image_side": args.image_side,
        "image_tokens": image_tokens,
        "seq_len": seq,
        "train": {
            "steps": args.steps,
            "warmup_steps": args.warmup,
            "seconds": round(train_s, 3),
            "samples_per_s": round(args.batch * args.steps / train_s, 4),
            "tokens_per_s": round(train_tok_s, 2),
            "peak_gpu_mem_gib": None if train_peak is None else round(train_peak, 2),
            "mfu": None if peak is None else round(2 * flops_tok * train_tok_s / (peak * 1e12), 4),  # 4N
            "final_loss": round(float(loss.detach()), 4),
        },
        "eval": {
            "batch": args.batch,
            "new_tokens": args.new_tokens,
            "seconds": round(gen_s, 3),
            "samples_per_s": round(args.batch / gen_s, 4),
            "tokens_per_s": round(new / gen_s, 2),
            "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        },
        "model_flops_per_token": flops_tok,
        "peak_tflops": peak,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    ap.add_argument("--device", default=None, help="cuda | cpu (default: cuda when visible)")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument(
        "--image-side", type=int, default=448, help="px, a multiple of 28 (448: 256 image tokens)"
    )
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--answer-len", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peak-tflops", type=float, default=None, help="override the device's dense bf16 peak")
    ap.add_argument("--allow-dirty", action="store_true")
    ap.add_argument(
        "--out", default=None, help="results file (default benchmarks/results/gpu_probe-SHAPE-DEVICE.json)"
    )
    args = ap.parse_args(argv)
    import torch

    from benchmarks.bookkeeping import provenance

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.image_side % 28:
        ap.error("--image-side must be a multiple of 28 (patch 14 x merge 2)")
    argv_rec = sys.argv if argv is None else ["benchmarks.gpu_probe", *argv]
    rec = {"provenance": provenance(argv_rec, allow_dirty=None), **probe(args)}
    tag = rec["device"].split()[-1] if rec["device"] != "cpu" else "cpu"
    out = Path(args.out) if args.out else RESULTS / f"gpu_probe-{args.shape}-{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=2) + "\n")
    t, e = rec["train"], rec["eval"]
    print(
        f"{args.shape} on {rec['device']}: train {t['samples_per_s']} samples/s, {t['tokens_per_s']} tokens/s, "
        f"peak {t['peak_gpu_mem_gib']} GiB, MFU {t['mfu']}; eval {e['tokens_per_s']} new tokens/s -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Hugging Face backend: any registered family through `AutoModelForImageTextToText` + its processor.

The model is loaded lazily (a tune-only stage never pays for an inference copy) and `tune` always starts
from a fresh copy of the base, so the student's own answers never change under it. Adapters are PEFT
directories (safetensors) tagged with the fingerprint of the base they were trained on; loading one onto
another base, or one that has no effect on outputs, is an error rather than a silent no-op.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edtune.config import LoraConfig, StudentConfig
from edtune.errors import ModelError
from edtune.schemas import SupportSample, TaskSample, Trace
from edtune.student.checkpoint import (
    base_fingerprint,
    check_safetensors,
    resolve_local,
    verify_checkpoint,
    verify_manifest,
)
from edtune.student.families import Family, get_family
from edtune.student.inputs import build_example, fit_image, turns
from edtune.student.prompt import format_question, parse_reasoning
from edtune.student.scoring import is_correct
from edtune.student.types import TuneResult

log = logging.getLogger(__name__)

ADAPTER_META = "edtune_adapter.json"


class HFStudent:
    """A student backed by a transformers checkpoint (+ optional LoRA adapter)."""

    def __init__(
        self,
        base_dir: Path,
        family: Family,
        cfg: StudentConfig,
        adapter_dir: Path | None = None,
        cache_dir: str = "./edtune-data/cache",
    ) -> None:
        import torch

        self.base_dir = base_dir
        self.family = family
        self.cfg = cfg
        self.adapter_dir = adapter_dir
        self.cache_dir = cache_dir
        if cfg.torch_threads > 0:
            torch.set_num_threads(cfg.torch_threads)
        want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ModelError("student.device is 'cuda' but no CUDA device is available")
        self.device = "cuda" if want_cuda else "cpu"
        self.dtype = torch.bfloat16 if want_cuda else torch.float32
        self.processor = family.load_processor(base_dir)
        self.processor.tokenizer.padding_side = "left"
        self.fingerprint = base_fingerprint(base_dir)
        if adapter_dir is not None:
            check_adapter(adapter_dir, self.fingerprint)
        self._model: Any = None

    # ------------------------------------------------------------ loading

    def _load_base(self, *, for_training: bool = False) -> Any:
        import torch
        from transformers import AutoModelForImageTextToText

        kw: dict[str, Any] = {"dtype": self.dtype, "trust_remote_code": self.cfg.trust_remote_code}
        if (
            self.cfg.trust_remote_code
        ):  # off by default; turning it on runs Python shipped with the checkpoint
            log.warning("student.trust_remote_code=true: code from %s may run on load", self.base_dir)
        kw["use_safetensors"] = True
        if self.device == "cuda" and not for_training:
            try:
                import accelerate  # noqa: F401

                kw["device_map"] = "auto"
            except ImportError:
                pass
        try:
            model = AutoModelForImageTextToText.from_pretrained(str(self.base_dir), **kw)
        except Exception as exc:
            raise ModelError(
                f"{self.base_dir}: cannot load the model ({type(exc).__name__}: {exc})"
            ) from None
        if self.device == "cuda" and "device_map" not in kw and not for_training:
            model.to("cuda")
        torch.manual_seed(0)
        return model

    @property
    def model(self) -> Any:
        """The inference model (base, or base + adapter checked to be active); loaded on first use."""
        if self._model is None:
            model = self._load_base()
            if self.adapter_dir is not None:
                from peft import PeftModel

                try:
                    model = PeftModel.from_pretrained(model, str(self.adapter_dir), is_trainable=False)
                except Exception as exc:
                    raise ModelError(
                        f"{self.adapter_dir}: adapter does not fit base {self.base_dir} ({type(exc).__name__}: {exc})"
                    ) from None
                self._assert_adapter_active(model)
            model.eval()
            self._model = model
        return self._model

    def _assert_adapter_active(self, model: Any) -> None:
        """A silently ignored adapter is a known failure elsewhere: require that it changes the logits."""
        import torch

        tok = self.processor.tokenizer
        ids = torch.tensor(
            [tok("Step 1: the colour is red. Answer: red", add_special_tokens=False)["input_ids"]]
        )
        ids = ids.to(next(model.parameters()).device)
        with torch.no_grad():
            on = model(input_ids=ids).logits
            with model.disable_adapter():
                off = model(input_ids=ids).logits
        if torch.equal(on, off):
            raise ModelError(
                f"{self.adapter_dir}: adapter loaded but has no effect on outputs (inactive or all-zero)"
            )

    # ------------------------------------------------------------ inference

    def _prompt(self, s: TaskSample) -> str:
        msgs = self.family.messages([format_question(s.question, s.choices)], [], with_image=True)
        return self.processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list[str], images: list[Any]) -> list[str]:
        """Greedy generation for one left-padded batch; returns the decoded replies."""
        import torch

        model = self.model
        tok = self.processor.tokenizer
        enc = self.processor(text=prompts, images=images, return_tensors="pt", padding=True)
        dev = next(model.parameters()).device
        enc = {
            k: (v.to(dev, dtype=self.dtype) if v.is_floating_point() else v.to(dev)) for k, v in enc.items()
        }
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=self.cfg.max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]

    def answer(self, samples: Sequence[TaskSample]) -> Iterator[Trace]:
        """Traces in input order; batches are formed from length-sorted prompts to minimise padding."""
        from edtune.io.images import load_image

        prompts = [self._prompt(s) for s in samples]
        order = sorted(range(len(samples)), key=lambda i: len(prompts[i]))
        done: dict[int, Trace] = {}
        nxt = 0
        bs = self.cfg.batch_size
        for b in range(0, len(order), bs):
            idx = order[b : b + bs]
            imgs = [fit_image(load_image(samples[i].image), self.cfg.image_max_side) for i in idx]
            for i, raw in zip(idx, self.generate([prompts[i] for i in idx], imgs), strict=True):
                steps, ans, issues = parse_reasoning(raw)
                s = samples[i]
                done[i] = Trace(
                    sample_id=s.id,
                    steps=steps,
                    answer=ans,
                    correct=is_correct(s, ans),
                    raw=raw,
                    parse_issues=issues,
                )
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1

    # ------------------------------------------------------------ tuning

    def example(self, sample: SupportSample) -> Any:
        from edtune.io.images import load_image

        human, gpt = turns(sample)
        img = fit_image(load_image(sample.image), self.cfg.image_max_side) if sample.image else None
        return build_example(self.family, self.processor, human, gpt, img)

    def peft_model(self, lora: LoraConfig, adapter_in: str | None, *, for_training: bool) -> Any:
        """A fresh copy of the base with a trainable LoRA: `adapter_in` continued, or a new one per `lora`.

        `for_training` loads the base on CPU without `device_map` (the Trainer places it, one copy per rank);
        otherwise the base goes where inference would put it (the hand-written loop trains it there).
        """
        from peft import LoraConfig as PeftLoraConfig
        from peft import PeftModel, get_peft_model

        base = self._load_base(for_training=for_training)
        if adapter_in is not None:
            a_dir = resolve_local(adapter_in, Path(self.cache_dir), what="adapter")
            check_adapter(a_dir, self.fingerprint)
            try:
                return PeftModel.from_pretrained(base, str(a_dir), is_trainable=True)
            except Exception as exc:
                raise ModelError(f"{adapter_in}: adapter does not fit base {self.base_dir} ({exc})") from None
        pcfg = PeftLoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            bias="none",
        )
        try:
            return get_peft_model(base, pcfg)
        except ValueError as exc:
            raise ModelError(f"LoRA target_modules {lora.target_modules!r} matched nothing: {exc}") from None

    def save_adapter(
        self, model: Any, out: Path, lora: LoraConfig, *, steps: int, seed: int, adapter_in: str | None
    ) -> None:
        """The PEFT adapter (safetensors only) plus `edtune_adapter.json`, which ties it to this base."""
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out), safe_serialization=True)
        for junk in out.glob("*.bin"):
            junk.unlink()
        meta = {
            "base_fingerprint": self.fingerprint,
            "family": self.family.name,
            "base": str(self.base_dir),
            "lora": lora.model_dump(mode="json"),
            "steps": steps,
            "seed": seed,
            "continued_from": adapter_in,
        }
        (out / ADAPTER_META).write_text(json.dumps(meta, indent=2) + "\n")

    def tune(
        self,
        samples: Sequence[SupportSample],
        out_dir: str,
        lora: LoraConfig,
        *,
        adapter_in: str | None = None,
        seed: int = 0,
        checkpoint_uri: str | None = None,
        log_uri: str | None = None,
    ) -> TuneResult:
        """LoRA on the language model only; loss on assistant tokens; continues `adapter_in` if given.

        Runs on `transformers.Trainer` (`edtune.student.train`, launched by `edtune.student.launch`): with `checkpoint_uri` it checkpoints there every
        `lora.checkpoint_every` steps and on SIGTERM (then raises `TunePreempted`), and a later call with the
        same job resumes from the last checkpoint to the same adapter; more than one process (one per visible
        GPU, or `lora.processes`) runs under torchrun. `lora.trainer = "loop"` selects the old hand-written
        loop (`edtune.student.handloop`, no checkpoints), kept as the baseline. Replay mixing is the caller's
        job. Deterministic on CPU (one torch thread) for a given seed, samples and config.
        """
        if not samples:
            raise ModelError("tune: no samples to train on")
        if lora.trainer == "loop":
            from edtune.student.handloop import tune_loop

            return tune_loop(self, samples, out_dir, lora, adapter_in=adapter_in, seed=seed)
        from edtune.student.launch import run_tune

        return run_tune(
            self,
            samples,
            out_dir,
            lora,
            adapter_in=adapter_in,
            seed=seed,
            checkpoint_uri=checkpoint_uri,
            log_uri=log_uri,
        )


def check_adapter(adapter_dir: Path, fingerprint: str) -> None:
    """Pre-load checks of a PEFT adapter dir: files present, safetensors only, trained on this very base."""
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelError(f"{adapter_dir}: missing adapter_config.json (not a PEFT adapter directory)")
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        if (adapter_dir / "adapter_model.bin").is_file():
            raise ModelError(
                f"{adapter_dir}: adapter_model.bin is pickled; edtune loads safetensors adapters only"
            )
        raise ModelError(f"{adapter_dir}: missing adapter_model.safetensors")
    verify_manifest(adapter_dir)
    check_safetensors([weights])
    meta_p = adapter_dir / ADAPTER_META
    if meta_p.is_file():
        want = json.loads(meta_p.read_text()).get("base_fingerprint")
        if want and want != fingerprint:
            raise ModelError(
                f"{adapter_dir}: adapter was trained on another base (fingerprint {want[:12]}…, "
                f"this base is {fingerprint[:12]}…)"
            )


def load_student(
    base: str,
    cfg: StudentConfig,
    adapter: str | None = None,
    cache_dir: str = "./edtune-data/cache",
) -> HFStudent:
    """Resolve `base` (dir, s3:// or hub id) and `adapter` to local dirs, verify them, return a lazy student."""
    from edtune.student.hub import resolve_base

    family = get_family(cfg.family)
    base_dir = resolve_base(base, cache_dir)  # a dir, an s3:// prefix (synced once) or a hub id (HF cache)
    verify_checkpoint(base_dir, family.model_types, family.name)
    adapter_dir = resolve_local(adapter, cache_dir, what="adapter") if adapter else None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return HFStudent(base_dir, family, cfg, adapter_dir, cache_dir)

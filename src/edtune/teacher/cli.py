"""Commands of the `teacher` area (registered by `edtune.cli`): `edtune diagnose` and `edtune annotate`.

(`edtune teacher serve-reference` belongs to the world area.)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="RunConfig YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: key.sub=value (repeatable).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
# assumed aggregate throughputs of one teacher server (a 7B-class VLM under vLLM/TGI with concurrent requests);
# estimates only — measure your own deployment and pass --prefill-tok-s / --decode-tok-s
PREFILL_TOK_S = 5000.0
DECODE_TOK_S = 1000.0
UrlOpt = Annotated[
    str | None, typer.Option("--teacher-url", help="Teacher base URL (overrides teacher.url).")
]


def _config(config: Path | None, set_: list[str] | None, url: str | None, method: str | None):  # type: ignore[no-untyped-def]
    from edtune.config import load_config

    overrides = list(set_ or [])
    if url:
        overrides.append(f"teacher.url={url}")
    if method:
        overrides.append(f"teacher.method={method}")
    return load_config(config, overrides)


def _show_progress() -> bool:
    return sys.stderr.isatty()


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app. Heavy imports stay inside the command bodies."""

    @app.command("diagnose")
    def diagnose_cmd(
        traces: Annotated[str, typer.Option("--traces", help="traces.jsonl (path, file:// or s3://).")],
        task: Annotated[str, typer.Option("--task", help="The task split the traces come from (val.jsonl).")],
        out: Annotated[str, typer.Option("--out", help="Where to write mistakes.jsonl.")],
        teacher_url: UrlOpt = None,
        method: Annotated[
            str | None, typer.Option("--method", help="answer-switch | judge (overrides teacher.method).")
        ] = None,
        journal: Annotated[
            str | None,
            typer.Option("--journal", help="Local resume journal (default: under cache_dir/journals/)."),
        ] = None,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Find the first wrong step and the missing skill of every wrong trace (one report per wrong trace)."""
        from edtune.datasets import load_task
        from edtune.io import read_jsonl, write_jsonl
        from edtune.output import emit
        from edtune.schemas import Trace
        from edtune.teacher.diagnose import diagnose

        if method is not None and method not in ("answer-switch", "judge"):
            raise typer.BadParameter("--method must be 'answer-switch' or 'judge'")
        cfg = _config(config, set_, teacher_url, method)
        trace_list = read_jsonl(traces, Trace, id_field="sample_id")
        samples = {s.id: s for s in load_task(task, check_images=False)}
        if journal is None:
            digest = hashlib.sha256(f"{traces}\0{task}\0{out}".encode()).hexdigest()[:24]
            journal = str(Path(cfg.cache_dir) / "journals" / f"diagnose-{digest}.jsonl")
        result = diagnose(
            trace_list,
            samples,
            cfg.teacher,
            cache_dir=cfg.cache_dir,
            journal=journal,
            progress=_show_progress(),
        )
        write_jsonl(out, result.reports)
        summary = result.summary() | {"out": out, "journal": journal}
        human = (
            f"{out}: {result.diagnosed} diagnosed, {result.undiagnosed} undiagnosed, "
            f"{result.skipped_correct} correct (skipped); {result.requests} requests, "
            f"{result.cache_hits} cache hits, {result.resumed} resumed, {result.seconds:.1f}s"
        )
        emit(summary, as_json, human=human)

    @app.command("annotate")
    def annotate_cmd(
        pool: Annotated[str, typer.Option("--pool", help="Support pool JSONL (LLaVA conversation format).")],
        out: Annotated[str, typer.Option("--out", help="Where to write pool.skills.jsonl.")],
        teacher_url: UrlOpt = None,
        estimate: Annotated[
            bool,
            typer.Option(
                "--estimate", help="Only count requests, tokens and hours; ask the teacher nothing."
            ),
        ] = False,
        prefill_tok_s: Annotated[
            float, typer.Option("--prefill-tok-s", min=1.0, help="Teacher prompt throughput for --estimate.")
        ] = PREFILL_TOK_S,
        decode_tok_s: Annotated[
            float, typer.Option("--decode-tok-s", min=1.0, help="Teacher output throughput for --estimate.")
        ] = DECODE_TOK_S,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Ask the teacher which skills every support sample teaches; resumable; rows in pool order.

        With --estimate: the requests this would send (exact), and its prompt and output tokens and hours at the
        given throughputs (estimates; the defaults are assumptions for one 7B-class VLM server, see docs/pool.md).
        """
        from edtune.output import emit
        from edtune.teacher.annotate import annotate_pool, estimate_annotation

        cfg = _config(config, set_, teacher_url, None)
        if estimate:
            e = estimate_annotation(
                pool,
                out,
                cfg.teacher,
                cache_dir=cfg.cache_dir,
                prefill_tokens_per_s=prefill_tok_s,
                decode_tokens_per_s=decode_tok_s,
            )
            human = (
                f"{pool}: {e.requests} requests ({e.rows} rows, {e.pretagged} pre-tagged, {e.resumed} resumed); "
                f"~{e.prompt_tokens:,} prompt + ~{e.output_tokens:,} output tokens (<= {e.output_tokens_max:,}); "
                f"~{e.hours:.3g} h (<= {e.hours_max:.3g} h)\n{e.estimate}"
            )
            emit(e, as_json, human=human)
            return
        result = annotate_pool(pool, out, cfg.teacher, cache_dir=cfg.cache_dir, progress=_show_progress())
        human = (
            f"{out}: {result.rows} rows ({result.tagged} tagged, {result.pretagged} pre-tagged, "
            f"{result.resumed} resumed, {result.failed} failed); {result.requests} requests, {result.seconds:.1f}s"
        )
        emit(result, as_json, human=human)

"""`edtune serve` and `edtune adapters smoke`.

`smoke` joins the `adapters` group that `edtune.publish.cli` owns: it is attached here, at registration, so
serving code stays in this package and the publish/rollout code calls the command without importing the server.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


def serve_cmd(
    student: Annotated[str, typer.Option("--student", help="Base student checkpoint (dir or s3:// prefix).")],
    adapter: Annotated[
        list[str] | None, typer.Option("--adapter", help="NAME=URI of a LoRA adapter (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = a free one, printed).")] = 8000,
    family: Annotated[str, typer.Option("--family", help="qwen2-vl | llava | llava-onevision")] = "qwen2-vl",
    max_new_tokens: Annotated[
        int | None, typer.Option("--max-new-tokens", help="Default reply budget (student.max_new_tokens).")
    ] = None,
    image_max_side: Annotated[
        int | None,
        typer.Option("--image-max-side", help="As the student evaluates (student.image_max_side)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    cache_dir: Annotated[str, typer.Option("--cache-dir")] = "./edtune-data/cache",
) -> None:
    """Serve the base student and its adapters on an OpenAI-compatible API (`model` picks the adapter)."""
    from edtune.config import StudentConfig
    from edtune.serve.api import parse_adapter_spec
    from edtune.serve.engine import AdapterEngine
    from edtune.serve.server import AdapterServer

    specs = [parse_adapter_spec(a) for a in adapter or []]
    given = {
        "max_new_tokens": max_new_tokens,
        "image_max_side": image_max_side,
    }  # unset: the product defaults
    cfg = StudentConfig.model_validate(
        {
            "family": family,
            "base": student,
            "device": device,
            **{k: v for k, v in given.items() if v is not None},
        }
    )
    engine = AdapterEngine(student, specs, cfg, cache_dir=cache_dir)
    engine.load()
    server = AdapterServer((host, port), engine)
    print(f"edtune serve: {server.url} models: {', '.join(engine.names)}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def smoke_cmd(
    url: Annotated[str, typer.Option("--url", help="Server base URL (edtune serve, TGI or vLLM).")],
    model: Annotated[str, typer.Option("--model", help="Adapter name as the server knows it.")],
    task: Annotated[str, typer.Option("--task", help="Task split JSONL (e.g. tasks/<name>/test.jsonl).")],
    min_accuracy: Annotated[
        float | None, typer.Option("--min-accuracy", help="Exit 1 when accuracy is below this.")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency")] = 4,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Reply budget (the student's default).")
    ] = 64,
    shape: Annotated[
        str, typer.Option("--shape", help="openai | tgi (tgi also sends adapter_id).")
    ] = "openai",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N samples.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a served adapter on a task split; exit 1 below --min-accuracy (a rollout's smoke check)."""
    from edtune.config import secret_from_env
    from edtune.output import emit
    from edtune.serve.smoke import smoke

    if shape not in ("openai", "tgi"):
        raise typer.BadParameter("--shape must be openai or tgi")
    res = smoke(
        url,
        model,
        task,
        min_accuracy=min_accuracy,
        concurrency=concurrency,
        max_tokens=max_tokens,
        shape=shape,  # type: ignore[arg-type]
        token=secret_from_env("EDTUNE_SERVE_TOKEN", "HF_TOKEN"),
        limit=limit,
    )
    bar = "" if min_accuracy is None else f" (bar {min_accuracy:.3f}: {'pass' if res.passed else 'FAIL'})"
    human = f"{model} @ {url}: accuracy {res.accuracy:.3f} on {res.n} samples{bar}, {res.seconds:.1f} s"
    if res.errors:
        human += f"\n{len(res.errors)} failed request(s), e.g. {res.errors[0]}"
    emit(res, as_json, human=human)
    if not res.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """`edtune serve` on the root app; `smoke` on the `adapters` group (created by edtune.publish.cli)."""
    from edtune.publish.cli import adapters_app

    app.command("serve")(serve_cmd)
    adapters_app.command("smoke")(smoke_cmd)

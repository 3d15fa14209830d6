"""The `edtune` command line. Each area registers its own commands (`<area>/cli.py: register(app)`).

Exit codes: 0 success, 1 the run failed, 2 bad usage or bad input. Errors print without a traceback
unless `--debug` is given.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from edtune import __version__
from edtune.errors import EdtuneError

app = typer.Typer(
    name="edtune",
    help="Error-driven, data-efficient tuning of large multimodal models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect run configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_state = {"debug": False}

#: the product's command groups, in registration order
AREAS = (
    "edtune.data_cli",
    "edtune.student.cli",
    "edtune.teacher.cli",
    "edtune.skills.cli",
    "edtune.run_cli",
    "edtune.pipeline.cli",
    "edtune.publish.cli",
    "edtune.imports.cli",
    "edtune.serve.cli",  # after publish.cli: it adds `smoke` to the `adapters` group
)
#: the offline harness's command groups (shapes world, reference teacher, tiny base student, demo): the one place
#: a product module names the harness (tests/foundation/test_structure.py allows exactly these)
HARNESS_AREAS = (
    "edtune.shapes.world.cli",
    "edtune.shapes.student.cli",  # after edtune.student.cli: it adds commands to the `student` group
    "edtune.shapes.demo_cli",
)


def _version(value: bool) -> None:
    if value:
        print(f"edtune {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors on stderr (no progress).")
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="-v: edtune's INFO log; -vv: library logs too.")
    ] = 0,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug | info | warning | error (overrides -v/-q).")
    ] = None,
) -> None:
    from edtune import log

    _state["debug"] = debug
    log.setup(log.level_for(verbose, log_level, debug=debug, quiet=quiet))


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="RunConfig YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: key.sub=value (repeatable).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


@config_app.command("show")
def config_show(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
    sources: Annotated[
        bool, typer.Option("--sources", help="With --json: {config, sources} (where each value came from).")
    ] = False,
) -> None:
    """Print the resolved configuration, each value with its source (default / preset / file / env / flag).

    Only secrets are hidden (credentials inside URLs); settings such as `student.max_new_tokens` or the names
    of Kubernetes Secrets print as they are.
    """
    from edtune.config import redacted, resolve_config
    from edtune.config.show import leaf_sources, render
    from edtune.output import emit

    resolved = resolve_config(config, set_ or [])
    data = redacted(resolved.config)
    if as_json and sources:
        emit({"config": data, "sources": leaf_sources(resolved)}, True)
        return
    emit(data, as_json, human=render(resolved))


def _register_areas() -> None:
    for name in (*AREAS, *HARNESS_AREAS):
        importlib.import_module(name).register(app)


_register_areas()


def _json_error(argv: list[str], exc: BaseException, exit_code: int) -> None:
    """With `--json`, a failure is still exactly one JSON object on stdout (the message also goes to stderr)."""
    if "--json" not in argv:
        return
    import json

    problems = [str(p) for p in getattr(exc, "problems", [])]
    err = {
        "type": type(exc).__name__,
        "message": str(exc).splitlines()[0] if str(exc) else "",
        "problems": problems,
    }
    sys.stdout.write(json.dumps({"ok": False, "exit_code": exit_code, "error": err}) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the Typer app and map EdtuneError to its exit code without a traceback.

    Typer/click run with `standalone_mode=False`, so `typer.Exit(n)` comes back as the return value of
    `app(...)` rather than as an exception: both paths give the process its exit code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = app(args=args, prog_name="edtune", standalone_mode=False)
    except EdtuneError as exc:
        if _state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        _json_error(args, exc, exc.exit_code)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        return 130
    except Exception as exc:
        # usage errors (missing argument, unknown option, no command): typer >= 0.2x vendors click as
        # `typer._click`, so match by shape (`show()` + `exit_code`), which both click and typer's copy have
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        if _state["debug"]:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        _json_error(args, exc, 1)
        return 1
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())

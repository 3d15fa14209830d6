"""RunConfig: the single source of a run's settings (defaults < preset < YAML < env `EDTUNE_A__B` < `--set a.b=v`).

Validation errors name the field and where its value came from (file, env var or flag). Secrets are not
fields: tokens are read from the environment at the edge (`secret_from_env`) so they can never reach a
pipeline parameter, a log line or a manifest. The package: `schema` (the settings and their product defaults),
`defaults` (where each default comes from), `loading` (layers, presets, sources), `redact` (what may be shown).
"""

from __future__ import annotations

from edtune.config.loading import (
    ENV_PREFIX,
    Preset,
    Resolved,
    load_config,
    register_preset,
    registered_presets,
    resolve_config,
    secret_from_env,
)
from edtune.config.redact import is_secret_name, redact_text, redacted
from edtune.config.schema import (
    ClusterConfig,
    LoopConfig,
    LoraConfig,
    PoolConfig,
    RetrievalConfig,
    RunConfig,
    StudentConfig,
    TaskConfig,
    TeacherConfig,
    TolerationConfig,
)

__all__ = [
    "ENV_PREFIX",
    "ClusterConfig",
    "LoopConfig",
    "LoraConfig",
    "PoolConfig",
    "Preset",
    "Resolved",
    "RetrievalConfig",
    "RunConfig",
    "StudentConfig",
    "TaskConfig",
    "TeacherConfig",
    "TolerationConfig",
    "is_secret_name",
    "load_config",
    "redact_text",
    "redacted",
    "register_preset",
    "registered_presets",
    "resolve_config",
    "secret_from_env",
]

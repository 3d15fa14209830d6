"""One plain, typed function per pipeline stage. KFP components, the in-process loop and the CLI all call these.

One module per stage family (`scoring` evaluate, `diagnosis`, `selection` allocate + retrieve, `tuning`, `pool`
annotate + index, `final` finalize + publish), the skip/resume machinery in `base`, and run bookkeeping (metrics,
stop rule, best round) in `rounds`. Everything is re-exported here, so callers keep writing `stages.evaluate(...)`.
"""

from edtune.runfiles import read_reports, read_selections
from edtune.stages.base import Split, StageResult, layout_of
from edtune.stages.diagnosis import diagnose
from edtune.stages.final import finalize, publish
from edtune.stages.pool import annotate, index
from edtune.stages.rounds import best_round, record_round, round_metrics, should_continue
from edtune.stages.scoring import evaluate, evaluate_shard, merge_shards
from edtune.stages.selection import _pool_ids, _replay, allocate, retrieve, used_support_ids
from edtune.stages.tuning import too_few_to_tune, tune

__all__ = [
    "Split",
    "StageResult",
    "_pool_ids",
    "_replay",
    "allocate",
    "annotate",
    "best_round",
    "diagnose",
    "evaluate",
    "evaluate_shard",
    "finalize",
    "index",
    "layout_of",
    "merge_shards",
    "publish",
    "read_reports",
    "read_selections",
    "record_round",
    "retrieve",
    "round_metrics",
    "should_continue",
    "too_few_to_tune",
    "tune",
    "used_support_ids",
]

"""One self-contained HTML report per run: what was learnt (accuracy per round, per-sample before/after, the LoRA
loss of every restart), why (mistakes per grouped skill, diagnosed examples) and from what (the selected support
samples, grouped by gap). Plots are inline SVG and images inline PNG, so the file opens anywhere (also as a KFP
`HTML` artifact) without network access.
"""

from edtune.report.page import TRAINING_COLUMNS, build_report, loss_curves, summary_table, write_report

_TRAINING_COLUMNS = TRAINING_COLUMNS  # the name the training-table tests import

__all__ = ["TRAINING_COLUMNS", "build_report", "loss_curves", "summary_table", "write_report"]

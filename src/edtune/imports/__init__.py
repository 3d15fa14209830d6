"""edtune.imports: bring a support pool and a task in from the formats people already hold.

`import_pool` (LLaVA JSON/JSONL, ms-swift/TRL `messages` JSONL, Parquet exports) and `import_task` (MMBench
TSV, LLaVA records with answers) stream their sources, store each distinct image once, and refuse a record they
cannot convert faithfully by file, line and field — never silently. See docs/pool.md.
"""

from edtune.imports.pool import PoolImport, import_pool
from edtune.imports.task import TaskImport, import_task

__all__ = ["PoolImport", "TaskImport", "import_pool", "import_task"]

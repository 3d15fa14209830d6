"""No new ways to run untrusted code: a scan of src/ for deserialisation and dynamic execution.

Every hit must be on the allow-list below with the reason it is safe; a new hit fails until someone writes down why
(or removes it). The patterns are matched on code, not on comments or docstrings that merely name the danger.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "edtune"

# (pattern name, regex over a line of code with comments/strings removed)
PATTERNS = [
    ("pickle", re.compile(r"\b(c?pickle|dill|joblib)\b")),
    ("torch.load", re.compile(r"\btorch\.load\b|\bload_state_dict_from_url\b")),
    ("trust_remote_code=True", re.compile(r"trust_remote_code\s*=\s*True")),
    ("eval(", re.compile(r"(?<![\w.])eval\s*\(")),
    ("exec(", re.compile(r"(?<![\w.])exec\s*\(")),
    ("yaml.load", re.compile(r"\byaml\.(unsafe_)?load\s*\(|\byaml\.load_all\s*\(")),
    ("shell=True", re.compile(r"shell\s*=\s*True")),
    ("marshal", re.compile(r"\bmarshal\.loads?\b")),
]

# (file relative to src/edtune, pattern name) -> why this use is safe
ALLOWED: dict[tuple[str, str], str] = {}


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Source lines with comments and string literals blanked (docstrings may name what they refuse)."""
    text = path.read_text()
    lines = text.splitlines()
    blank: dict[int, list[tuple[int, int]]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            (sr, sc), (er, ec) = tok.start, tok.end
            for row in range(sr, er + 1):
                start = sc if row == sr else 0
                end = ec if row == er else len(lines[row - 1])
                blank.setdefault(row, []).append((start, end))
    out = []
    for i, line in enumerate(lines, 1):
        chars = list(line)
        for start, end in blank.get(i, []):
            for c in range(start, min(end, len(chars))):
                chars[c] = " "
        out.append((i, "".join(chars)))
    return out


def scan() -> list[tuple[str, int, str, str]]:
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for lineno, code in _code_lines(path):
            for name, rx in PATTERNS:
                if rx.search(code):
                    hits.append((rel, lineno, name, code.strip()))
    return hits


def test_src_has_no_unreviewed_deserialisation_or_dynamic_execution() -> None:
    new = [h for h in scan() if (h[0], h[2]) not in ALLOWED]
    assert not new, "unreviewed dangerous call(s); remove or add to ALLOWED with a reason:\n" + "\n".join(
        f"  src/edtune/{f}:{n}: {name}: {code}" for f, n, name, code in new
    )


def test_every_allow_list_entry_is_still_used() -> None:
    used = {(h[0], h[2]) for h in scan()}
    stale = [k for k in ALLOWED if k not in used]
    assert not stale, f"allow-list entries that match nothing (delete them): {stale}"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("import pickle", "pickle"),
        ("state = torch.load(path)", "torch.load"),
        ("m = Auto.from_pretrained(p, trust_remote_code=True)", "trust_remote_code=True"),
        ("x = eval(text)", "eval("),
        ("exec(code)", "exec("),
        ("cfg = yaml.load(fh)", "yaml.load"),
        ("subprocess.run(cmd, shell=True)", "shell=True"),
    ],
)
def test_the_scan_catches_each_pattern(tmp_path: Path, code: str, name: str) -> None:
    f = tmp_path / "x.py"
    f.write_text(
        f'"""docstring mentioning pickle and eval( is fine."""\n# torch.load in a comment is fine\n{code}\n'
    )
    found = {n for _, line in _code_lines(f) for n, rx in PATTERNS if rx.search(line)}
    assert found == {name}


def test_model_loading_insists_on_safetensors_and_no_remote_code_by_default() -> None:
    from edtune.config import StudentConfig

    assert StudentConfig().trust_remote_code is False
    hf = (SRC / "student" / "hf.py").read_text()
    assert 'kw["use_safetensors"] = True' in hf
    assert "trust_remote_code=False" in (SRC / "student" / "families.py").read_text()


def test_turning_trust_remote_code_on_is_logged() -> None:
    hf = (SRC / "student" / "hf.py").read_text()
    i = hf.index('"trust_remote_code": self.cfg.trust_remote_code')
    assert "log.warning" in hf[i : i + 400], "enabling trust_remote_code must log a warning next to the load"

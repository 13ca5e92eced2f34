"""mypy --strict is clean on the package and understands models and QuerySets.

`tests/typing/sample_typed.py` carries `# expect:` comments for `reveal_type` lines and
`# expect-error:` comments for lines mypy must reject.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SAMPLE = HERE / "sample_typed.py"


def test_mypy_strict_on_package_and_sample(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
            "--cache-dir", str(tmp_path / "cache"),
            str(ROOT / "sqlmodelx"), str(SAMPLE),
        ],
        capture_output=True, text=True, cwd=HERE, timeout=600,
    )
    lines = done.stdout.splitlines()
    package_errors = [line for line in lines if line.startswith(("sqlmodelx/", str(ROOT / "sqlmodelx")))]
    assert not package_errors, "\n".join(package_errors)
    by_line: dict[int, list[str]] = {}
    for line in lines:
        m = re.match(r".*sample_typed\.py:(\d+): (?:note|error): (.*)", line)
        if m:
            by_line.setdefault(int(m.group(1)), []).append(m.group(2))
    for number, text in enumerate(SAMPLE.read_text().splitlines(), start=1):
        found = " | ".join(by_line.pop(number, []))
        if "# expect: " in text:
            expected = text.split("# expect: ", 1)[1].strip()
            assert f'Revealed type is "{expected}"' in found, (number, found)
        elif "# expect-error: " in text:
            expected = text.split("# expect-error: ", 1)[1].strip()
            assert expected in found, (number, found)
    assert not by_line, f"unexpected mypy output: {by_line}"

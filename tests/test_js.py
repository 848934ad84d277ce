"""Runs the JavaScript tests (node's built-in runner) as part of the Python test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from .servers import ROOT


def require_node() -> str:
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "node is not installed"
    elif not (ROOT / "node_modules").is_dir():
        reason = "node_modules is missing (npm ci)"
    if reason is not None:
        if os.environ.get("LIVEPUSH_REQUIRE_NODE") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_NODE=1 but {reason}")
        pytest.skip(reason)
    assert node is not None
    return node


def test_livepush_js_and_react_bindings_pass_their_node_tests():
    node = require_node()
    result = subprocess.run(
        [node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith("# "))
    print(summary)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "# fail 0" in result.stdout
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.M)
    assert passed, "node printed no '# pass' line"
    assert int(passed.group(1)) > 0, "node ran no test"

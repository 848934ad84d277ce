"""The example project's own tests (example_project/*/tests.py), which use livepush.testing as a
host project would: run with ``manage.py test`` under the demo's settings, in their own process."""

from __future__ import annotations

import subprocess
import sys

from .servers import ROOT, django_env

EXAMPLE = ROOT / "example_project"


def test_the_example_projects_tests_pass(tmp_path):
    env = django_env(
        {"DJANGO_SETTINGS_MODULE": "demo.settings", "DEMO_DB": str(tmp_path / "db.sqlite3")},
        cwd=EXAMPLE,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "2"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line for line in result.stderr.splitlines() if line.endswith(" ... ok")]
    assert len(ran) >= 5, result.stderr
    assert any("test_ticking_a_point_pushes_it_to_every_member" in line for line in ran)

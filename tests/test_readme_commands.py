"""Every snakemake command in the README's bash blocks parses and plans (a dry run from the
repository root, as a reader would type it): a command that Snakemake reads differently from what
the README says (e.g. a target after ``--configfile`` taken as a config file) fails here."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import REPO


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [part.strip() for line in lines for part in line.split("&&") if "snakemake" in part]


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_plans(command):
    words = shlex.split(command, comments=True)
    env = dict(os.environ)
    while "=" in words[0]:  # leading VAR=value assignments
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    assert words[0] == "snakemake", command
    if "--report-after-run" in words:  # a dry run would still render the HTML report: plan only
        words.remove("--report-after-run")
        at = words.index("--report")
        del words[at:at + 2]
    result = subprocess.run([sys.executable, "-m", "snakemake", *words[1:], "-n", "--nolock"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def test_the_readme_has_commands():
    assert len(readme_commands()) >= 5

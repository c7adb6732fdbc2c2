"""The exit code table: `txcat --help` shows every code once, as `txcat.exits` defines it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from txcat import cli, exits

README = Path(__file__).resolve().parents[1] / "README.md"


def test_help_lists_every_exit_code_once(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == exits.OK
    text = capsys.readouterr().out
    table = text[text.index("exit codes:") :]
    listed = [(int(m[1]), m[2]) for m in re.finditer(r"^\s+(\d+)\s+(.+)$", table, re.MULTILINE)]
    assert listed == list(exits.MEANINGS.items())
    assert text.count("exit codes:") == 1


def test_the_readme_table_has_the_same_codes():
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert [int(code) for code, _ in rows] == list(exits.MEANINGS)

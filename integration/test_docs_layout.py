"""docs/architecture.md's module table names every source file of connector/, in its
folder, and nothing that is not there: the layout a newcomer reads is the real one."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def table_rows():
    """(folder, file) for every file the module table names."""
    text = (REPO / "docs" / "architecture.md").read_text()
    rows, folder = [], None
    for line in text.splitlines():
        m = re.match(r"^\| (`[a-z]+/`)? *\| (.+?) \|", line)
        if not m:
            continue
        if m.group(1):
            folder = m.group(1).strip("`/")
        for name in re.findall(r"`([a-z_]+\.c)`", m.group(2)):
            rows.append((folder, name))
    return rows


def test_module_table_matches_the_tree():
    documented = set(table_rows())
    present = {(p.parent.name, p.name) for p in (REPO / "connector").glob("*/*.c")}
    assert documented, "no module table found in docs/architecture.md"
    assert not present - documented, f"in connector/ but not in the table: {sorted(present - documented)}"
    assert not documented - present, f"in the table but not in connector/: {sorted(documented - present)}"


def test_every_source_file_says_what_it_is():
    for p in sorted((REPO / "connector").glob("*/*.[ch]")):
        first = p.read_text().splitlines()[0]
        assert first.startswith(f"/* {p.name} — "), f"{p}: first line {first!r}"

"""YAML read strictly: a key given twice in one mapping stops with one line naming the file, the key and
both lines, where PyYAML would silently keep the last (a second `C5:` replacing the real one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


def _unique_keys(node: yaml.Node, where: str, seen: set[int]) -> None:
    """Stop at a key given twice in one mapping, at any depth (PyYAML silently keeps the last one)."""
    if id(node) in seen:  # an alias of a node already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, child in node.value:
            if key.tag == MERGE_TAG:  # `<<: *anchor`: its keys may be overridden, that is its point
                continue
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            dotted = f"{where}.{name}" if where else str(name)
            if name is not None:
                line = key.start_mark.line + 1
                if (key.tag, name) in lines:
                    raise SystemExit(
                        f"{dotted}: given twice (lines {lines[key.tag, name]} and {line}); YAML would "
                        "silently keep the last"
                    )
                lines[key.tag, name] = line
            _unique_keys(child, dotted, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _unique_keys(child, f"{where}[{i}]", seen)


def parse_strict(path: Path) -> Any:
    """The YAML document, refusing duplicated keys (one line naming the file and the key)."""
    loader = yaml.SafeLoader(path.read_text())
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            _unique_keys(node, "", set())
        except SystemExit as err:
            raise SystemExit(f"{path}: {err}") from None
        return loader.construct_document(node)
    finally:
        loader.dispose()

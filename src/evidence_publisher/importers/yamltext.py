"""YAML text for generated mapping files: PyYAML renders each value (so quoting is always right),
and the writer places comments between the keys. Output is deterministic: no clock, no randomness."""

from __future__ import annotations

from typing import Any

import yaml

SCHEMA_DIR = ".schemas"  # beside the mapping files; JSON Schema files for editors


class _Dumper(yaml.SafeDumper):
    """Block style with sequences indented under their key (the style of the hand-written mappings)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if len(value) > 100:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=">")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def block(key: str, value: Any, indent: int = 0) -> str:
    """``key: value`` as YAML lines, indented by ``indent`` spaces."""
    text = yaml.dump(
        {key: value}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def comment(text: str, indent: int = 0, width: int = 100) -> str:
    """``text`` as ``#`` comment lines wrapped at ``width``."""
    pad = " " * indent + "# "
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            if line and len(pad) + len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "".join(f"{pad}{line}".rstrip() + "\n" for line in lines)


def schema_line(kind: str) -> str:
    """The modeline that points VS Code's YAML extension (and other yaml-language-server editors) at
    the JSON Schema of this kind of mapping file."""
    return f"# yaml-language-server: $schema={SCHEMA_DIR}/{kind}.schema.json\n"


def comment_lines(text: str, indent: int = 0) -> str:
    """``text`` as ``#`` comment lines exactly as given (for YAML examples: indentation matters)."""
    pad = " " * indent + "# "
    return "".join(f"{pad}{line}".rstrip() + "\n" for line in text.split("\n"))

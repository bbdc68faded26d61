"""site stage: a static, self-contained HTML site from a build output or a FHIR server.

from evidence_publisher.site import read_build, make_site
make_site(read_build(Path("dist")), Path("site"), protected_inputs=[Path("dist")])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evidence_publisher.errors import UnsafeOutputError, WriteError
from evidence_publisher.site.errors import SiteInputError
from evidence_publisher.site.inputs import SiteInput, read_build, read_report, read_server
from evidence_publisher.site.model import build_model
from evidence_publisher.site.output import protected_places, write_site
from evidence_publisher.site.pages import SiteModel
from evidence_publisher.site.render import render_site


@dataclass
class SiteResult:
    out_dir: Path
    pages: int
    model: SiteModel


def make_site(source: SiteInput, out_dir: Path, protected_inputs: Iterable[Path] = ()) -> SiteResult:
    """Build the site's files and write them to ``out_dir`` (nothing is written on any error)."""
    model = build_model(source)
    files = render_site(model)
    written = write_site(out_dir, files, protected_places(protected_inputs))
    return SiteResult(written, sum(1 for f in files if f.endswith(".html")), model)


__all__ = [
    "SiteInput",
    "SiteInputError",
    "SiteModel",
    "SiteResult",
    "UnsafeOutputError",
    "WriteError",
    "build_model",
    "make_site",
    "read_build",
    "read_report",
    "read_server",
    "render_site",
]

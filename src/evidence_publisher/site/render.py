"""Render the site model to files: every page as ``relative path -> text``, deterministic.

The same resources and report give byte-identical pages: nothing reads the clock, the file system
order or the environment, every list is sorted by the model, and Jinja2's output is pure.
"""

from __future__ import annotations

from importlib import resources as package_files

import jinja2

from evidence_publisher.jsonio import dumps
from evidence_publisher.site.pages import SiteModel

SITE_KIND = "evidence-publisher-site"
SITE_FORMAT_VERSION = 1
MARKER_FILE = "site.json"  # recognises a previous site (see site/output.py)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evidence_publisher.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def render_site(model: SiteModel) -> dict[str, str]:
    env = _environment()
    files: dict[str, str] = {}

    def page(path: str, template: str, here: str, page_title: str, **ctx: object) -> None:
        root = "../" * path.count("/")
        text = env.get_template(template).render(
            site=model, root=root, here=here, page_title=page_title, **ctx
        )
        files[path] = text

    page("index.html", "index.html.j2", "home", "Home")
    for rec in model.recommendations:
        page(rec.href, "recommendation.html.j2", "rec", rec.title, rec=rec)
    for study in model.studies:
        page(study.href, "study.html.j2", "study", study.title, study=study)
    page("sources/index.html", "sources.html.j2", "sources", "Sources")
    for doc in model.documents:
        page(doc.href, "document.html.j2", "sources", doc.title, doc=doc, segments=doc.segments)
    page("conflicts.html", "conflicts.html.j2", "conflicts", "Conflicts and attribution claims")
    static = package_files.files("evidence_publisher.site").joinpath("static")
    for name in ("site.css", "favicon.svg"):
        files[f"assets/{name}"] = static.joinpath(name).read_text("utf-8")
    files[MARKER_FILE] = dumps(
        {"kind": SITE_KIND, "format_version": SITE_FORMAT_VERSION, "files": sorted([*files, MARKER_FILE])}
    )
    return files

"""Every field of the mapping format reaches the output, or is a check whose wrong value is refused.

The mapping model (``sources/model.py``) is walked place by place: ``study.notes[*].text`` and
``results[*].notes[*].text`` are different places of the same field. At each place one value of
the seed corpus is changed (a new text, number, date, flag, choice or list; an id is renamed
everywhere it is used) and the corpus compiled again: the output (the resources and the build
report) must change. A place the seed corpus does not fill is filled with a minimal block first.
The fields in ``CHECKED_ONLY`` steer the checks instead (the quote a value is checked against,
which document it is looked up in): for them a wrong value must make the corpus checks refuse the
corpus. A field that does neither is accepted and silently dropped, and is named here.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from evidence_publisher.fhir.compile import compile_corpus
from evidence_publisher.jsonio import dumps
from evidence_publisher.pipeline import make_report
from evidence_publisher.sources import LoadedCorpus, load_corpus
from evidence_publisher.sources.loader import cross_check
from evidence_publisher.sources.model import Corpus, Publication, Recommendation

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "lupus-msc"
ROOTS: dict[str, type[BaseModel]] = {
    "corpus": Corpus,
    "publications": Publication,
    "recommendations": Recommendation,
}
Place = tuple[str, ...]  # ("publications", "results", "notes", "text"): list positions left out
Path_ = tuple[str | int, ...]  # ("publications", "liang-2010", "results", 2, "value")

NOT_IN_ANY_SOURCE = "This sentence is in none of the source documents."

# field -> why it does not reach the output; the corpus checks refuse a wrong value of it
CHECKED_ONLY: dict[str, str] = {
    "*.quote": "the verbatim text a block's values are checked against (fidelity)",
    "*.source": "which registered document a block's quotes are looked up in",
    "SourceDocument.title_quote": "the title as printed, to find it in the document despite spacing",
    "Certainty.id": "names the judgement for curators and must be unique in its file; the resources "
    "take their ids from the Evidence they assess",
}
# field -> where a wrong value is refused instead (checked while the corpus is read, not after)
CHECKED_WHILE_READING: dict[str, str] = {
    "Corpus.sources_dir": "where the source documents are read from: a wrong one is refused "
    "(source-missing: tests/compiler/test_broken_mappings.py)",
}


# ------------------------------------------------------------------------------------------------
# the model, place by place
# ------------------------------------------------------------------------------------------------
def _plain(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (alone, optional or in a list), if any."""
    tp = _plain(annotation)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def places() -> dict[Place, type[BaseModel]]:
    """Every place a block can stand, and the model class of the block there."""
    found: dict[Place, type[BaseModel]] = {}

    def visit(place: Place, model: type[BaseModel]) -> None:
        found[place] = model
        for name, info in model.model_fields.items():
            child = _model_in(info.annotation)
            if child is not None:
                visit((*place, name), child)

    for root, model in ROOTS.items():
        visit((root,), model)
    return found


def blocks(corpus: LoadedCorpus) -> Iterator[tuple[Place, Path_, BaseModel]]:
    """Every block of the corpus: its place, its path and the block."""

    def walk(obj: Any, place: Place, path: Path_) -> Iterator[tuple[Place, Path_, BaseModel]]:
        if isinstance(obj, BaseModel):
            yield place, path, obj
            for name in type(obj).model_fields:
                yield from walk(getattr(obj, name), (*place, name), (*path, name))
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                yield from walk(item, place, (*path, i))

    yield from walk(corpus.corpus, ("corpus",), ("corpus",))
    for kind in ("publications", "recommendations"):
        for key, loaded in sorted(getattr(corpus, kind).items()):
            yield from walk(loaded.model, (kind,), (kind, key))


def output(corpus: LoadedCorpus) -> str:
    compiled = compile_corpus(corpus)
    report = make_report(corpus.corpus, corpus.corpus.base_url, compiled)
    return dumps({"resources": compiled.resources, "report": report})


# ------------------------------------------------------------------------------------------------
# changing the corpus
# ------------------------------------------------------------------------------------------------
def _get(corpus: LoadedCorpus, path: Path_) -> Any:
    obj: Any = corpus.corpus if path[0] == "corpus" else getattr(corpus, str(path[0]))[path[1]].model
    for step in path[1:] if path[0] == "corpus" else path[2:]:
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)
    return obj


def _replace(obj: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, BaseModel):
        return obj.model_copy(update={str(head): _replace(getattr(obj, str(head)), rest, value)})
    items = list(obj)
    items[int(head)] = _replace(items[int(head)], rest, value)
    return items


def with_value(corpus: LoadedCorpus, path: Path_, value: Any, validate: bool = True) -> LoadedCorpus:
    """The corpus with the value at ``path`` replaced; the changed file is validated again."""

    def checked(model: BaseModel) -> BaseModel:
        return type(model).model_validate(model.model_dump()) if validate else model

    if path[0] == "corpus":
        changed = checked(_replace(corpus.corpus, path[1:], value))
        assert isinstance(changed, Corpus)
        return corpus.with_changes(corpus=changed)
    kind, key = str(path[0]), path[1]
    files = dict(getattr(corpus, kind))
    files[key] = dataclasses.replace(files[key], model=checked(_replace(files[key].model, path[2:], value)))
    if kind == "publications":
        return corpus.with_changes(publications=files)
    return corpus.with_changes(recommendations=files)


def renamed(corpus: LoadedCorpus, old: str, new: str) -> LoadedCorpus:
    """Every use of the id ``old`` renamed, as a curator would (inside ``pub/result`` too)."""

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return "/".join(new if part == old else part for part in value.split("/"))
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, BaseModel):
            return type(value).model_validate({k: swap(getattr(value, k)) for k in type(value).model_fields})
        return value

    def files(kind: str) -> dict:
        out = {}
        for loaded in getattr(corpus, kind).values():
            model = swap(loaded.model)
            out[model.id] = dataclasses.replace(loaded, model=model)
        return out

    return corpus.with_changes(
        corpus=swap(corpus.corpus),
        publications=files("publications"),
        recommendations=files("recommendations"),
        source_texts={(new if k == old else k): v for k, v in corpus.source_texts.items()},
    )


def _pattern(annotation: Any) -> str | None:
    tp = annotation
    while typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            if getattr(meta, "pattern", None):
                return str(meta.pattern)
        tp = typing.get_args(tp)[0]
    return None


TEXT_CANDIDATES = (
    "probe-changed",
    "https://example.org/probe",
    "1990-02-03",
    "2099-11-30",
    "0378-5955",  # ISSNs
    "2049-3630",
    "0" * 64,  # SHA-256 digests
    "f" * 64,
)


def new_values(annotation: Any, current: Any, pattern: str | None = None) -> Iterator[Any]:
    """Values of the field's type that differ from ``current``, simplest first."""
    pattern = _pattern(annotation) or pattern
    tp = _plain(annotation)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if current is not None and type(None) in args:
            yield None
        for arg in args:
            if arg is not type(None) and (current is None or _fits(arg, current)):
                yield from new_values(arg, current, pattern)
    elif origin is typing.Literal:
        yield from (a for a in args if a != current)
    elif origin is list:
        if current:
            yield current[:-1]
            yield [*current, current[0]]
        else:
            yield from ([v] for v in new_values(args[0], None))
    elif origin is dict:
        key = next(iter(current or {"probe": "probe"}))
        yield {**(current or {}), key: f"{(current or {}).get(key, 'probe')}-changed"}
    elif tp is bool:
        yield not current
    elif tp is int:
        yield (current or 0) + 1
    elif tp is Decimal:
        yield (current or Decimal(0)) + Decimal("0.25")
        yield Decimal("0.5")
    elif tp is str:
        texts = [f"{current}-changed"] if current else []
        yield from (
            t
            for t in [*texts, *TEXT_CANDIDATES]
            if t != current and (pattern is None or re.fullmatch(pattern, t))
        )
    elif isinstance(tp, type) and issubclass(tp, BaseModel) and current is None:
        yield example(tp)


def _fits(annotation: Any, value: Any) -> bool:
    tp = _plain(annotation)
    origin = typing.get_origin(tp)
    if origin is list:
        return isinstance(value, list)
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    return isinstance(tp, type) and isinstance(value, tp)


def example(model: type[BaseModel]) -> BaseModel:
    """A minimal block: the first candidate value of each required field."""
    values = {
        name: next(new_values(info.annotation, None, field_pattern(info)))
        for name, info in model.model_fields.items()
        if info.is_required()
    }
    return model.model_construct(**values)


def field_pattern(info: FieldInfo) -> str | None:
    """The pattern a text field must match (pydantic keeps a field's own constraints apart)."""
    found = [str(m.pattern) for m in info.metadata if getattr(m, "pattern", None)]
    return found[0] if found else _pattern(info.annotation)


def is_id(info: FieldInfo) -> bool:
    """An id or a reference to one (the ``Slug`` type)."""
    return (field_pattern(info) or "").startswith("^[a-z0-9]")


def _key(model: type[BaseModel], name: str) -> str:
    return f"{model.__name__}.{name}"


def checked_only(model: type[BaseModel], name: str) -> bool:
    return _key(model, name) in CHECKED_ONLY or f"*.{name}" in CHECKED_ONLY


# ------------------------------------------------------------------------------------------------
# probes
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Seed:
    corpus: LoadedCorpus
    output: str
    minimal_block: bool = False  # a block the seed corpus lacks was put in


def seeded(seed: Seed, place: Place) -> tuple[Seed, list[tuple[Path_, BaseModel]]] | None:
    """The blocks at ``place``; where the seed has none, a corpus with a minimal block put there."""
    found = [(path, block) for p, path, block in blocks(seed.corpus) if p == place]
    if found:
        return seed, found
    parent = seeded(seed, place[:-1])
    if parent is None:
        return None
    parent_seed, parent_blocks = parent
    path, block = parent_blocks[0]
    model = places()[place]
    info = type(block).model_fields[place[-1]]
    value: Any = example(model)
    if typing.get_origin(_plain(info.annotation)) is list or (
        typing.get_origin(_plain(info.annotation)) in (typing.Union, types.UnionType)
        and any(typing.get_origin(_plain(a)) is list for a in typing.get_args(_plain(info.annotation)))
    ):
        value = [value]
    corpus = with_value(parent_seed.corpus, (*path, place[-1]), value, validate=False)
    try:
        changed = Seed(corpus, output(corpus), minimal_block=True)
    except Exception:
        return None
    step = 0 if isinstance(value, list) else None
    full = (*path, place[-1]) if step is None else (*path, place[-1], 0)
    return changed, [(full, _get(corpus, full))]


def reaches_output(seed: Seed, found: list[tuple[Path_, BaseModel]], name: str) -> str | None:
    """None when some change of the field, at some block of the place, changes the output, or
    when the model refuses every value tried (then nothing can be dropped silently there)."""
    info = type(found[0][1]).model_fields[name]
    tried: list[str] = []
    accepted = 0
    ordered = sorted(found, key=lambda pb: getattr(pb[1], name) in (None, [], False))
    for path, block in ordered:
        current = getattr(block, name)
        changes: list[Callable[[], LoadedCorpus]]
        if is_id(info) and isinstance(current, str):
            changes = [functools.partial(renamed, seed.corpus, current, f"{current}-renamed")]
        else:
            changes = [
                functools.partial(with_value, seed.corpus, (*path, name), v)
                for v in new_values(info.annotation, current, field_pattern(info))
            ]
        for change in changes:
            try:
                changed = change()
            except ValidationError:
                continue  # the model refuses this value here
            accepted += 1
            try:
                if output(changed) != seed.output:
                    return None
                tried.append(f"{path}: the output did not change")
            except Exception as exc:  # a value the compiler cannot take: try the next
                tried.append(f"{path}: {type(exc).__name__}")
    if not accepted:
        return None
    return "; ".join(tried[:2]) or "no value to try"


def wrong_values(corpus: LoadedCorpus, path: Path_, block: BaseModel, name: str) -> Iterator[LoadedCorpus]:
    """The corpus with a wrong value in a checked-only field of the block at ``path``."""
    if name in ("quote", "title_quote"):
        yield with_value(corpus, (*path, name), NOT_IN_ANY_SOURCE)
    elif name == "source":
        for doc in corpus.corpus.sources:
            if doc.id != getattr(block, name):
                yield with_value(corpus, (*path, name), doc.id)
    elif name == "id":  # a second block with the same id
        *parent, index = path
        siblings = _get(corpus, tuple(parent))
        yield with_value(corpus, tuple(parent), [*siblings, siblings[int(index)]])


def refused_when_wrong(seed: Seed, found: list[tuple[Path_, BaseModel]], name: str) -> str | None:
    """None when a wrong value of the field makes the corpus checks refuse the corpus."""
    if seed.minimal_block:
        return None  # it quotes nothing; the same class's checks are probed where the seed has it
    for path, block in found:
        if "quote" in type(block).model_fields and getattr(block, "quote", None) is None:
            continue  # nothing to look up
        if any(cross_check(changed) for changed in wrong_values(seed.corpus, path, block, name)):
            return None
    return "no wrong value was refused"


@pytest.fixture(scope="module")
def seed() -> Seed:
    corpus = load_corpus([MAPPINGS])
    return Seed(corpus, output(corpus))


def test_the_seed_corpus_passes_its_checks(seed: Seed) -> None:
    assert cross_check(seed.corpus) == []


def test_every_mapping_field_reaches_the_output_or_is_checked(seed: Seed) -> None:
    dropped: dict[str, str] = {}
    unchecked: dict[str, str] = {}
    for place, model in places().items():
        at = seeded(seed, place)
        if at is None:
            dropped[".".join(place)] = "a minimal block here cannot be compiled; extend the probe"
            continue
        place_seed, found = at
        for name, info in model.model_fields.items():
            tp = _plain(info.annotation)
            if typing.get_origin(tp) is typing.Literal and len(typing.get_args(tp)) == 1:
                continue  # the file's kind: no other value is accepted
            if _model_in(info.annotation) is not None:
                continue  # a block: its own fields are probed at its place
            where = f"{'.'.join(place)}.{name}"
            if _key(model, name) in CHECKED_WHILE_READING:
                continue
            if checked_only(model, name):
                problem = refused_when_wrong(place_seed, found, name)
                if problem:
                    unchecked[where] = problem
            else:
                problem = reaches_output(place_seed, found, name)
                if problem:
                    dropped[where] = problem
    lines = [f"accepted but never in the output: {k} ({v})" for k, v in sorted(dropped.items())]
    lines += [f"check-only, yet a wrong value passes: {k} ({v})" for k, v in sorted(unchecked.items())]
    assert not lines, "\n".join(lines)

"""A generated corpus of N studies for the build benchmarks, made by cloning the seed study mappings.

    python bench/generate_corpus.py N DEST

DEST (new or empty) receives the seed corpus's mapping files (corpus, recommendation, citation-only
publications) and N study mappings: study ``i`` clones seed study ``i % 4`` (liang-2010, gu-2014,
hsct-severe-lupus, phase1-bm-msc-ln). The first four are the seed studies themselves, so
``N = 4`` is the seed corpus; every later clone gets the suffix ``-sNNNNN`` on its mapping id, on
the ids of its study population and interventions and of its certainty ratings, and on the source
documents it quotes, which are copied under new names (same text, so every quote still checks) and
registered in the generated corpus file. Deterministic: the same N gives the same bytes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "mappings" / "lupus-msc"
SEED_SOURCES = ROOT / "examples" / "lupus-msc" / "sources"
STUDIES = ("liang-2010", "gu-2014", "hsct-severe-lupus", "phase1-bm-msc-ln")
_MARK = "\x00"  # where a clone's suffix goes in a template
_ID_LINE = re.compile(r"^(\s*(?:- )?id: )(\S+)\s*$", re.MULTILINE)
_SECTION = re.compile(r"^(study|certainty):\n(?:(?:[ #].*)?\n)*", re.MULTILINE)


def study_template(text: str, source_ids: set[str]) -> tuple[str, set[str]]:
    """The text with a suffix mark after each id a clone renames, and the source ids it quotes."""
    mapping_id = re.search(r"^id: (\S+)$", text, re.MULTILINE)
    assert mapping_id, "a seed study has an id"
    renamed = {mapping_id.group(1)}
    for section in _SECTION.finditer(text):
        renamed |= {m.group(2) for m in _ID_LINE.finditer(section.group(0))}
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(map(re.escape, sorted(renamed, key=len, reverse=True))) + r")(?![\w-])"
    )
    text = pattern.sub(lambda m: m.group(1) + _MARK, text)
    ids = "|".join(map(re.escape, sorted(source_ids, key=len, reverse=True)))
    source_value = re.compile(r"(?<![\w-])(source: )(" + ids + r")(?![\w-])")
    sources = {m.group(2) for m in source_value.finditer(text)}
    text = source_value.sub(lambda m: m.group(1) + m.group(2) + _MARK, text)
    return text, sources


def seed_sources(corpus_text: str) -> dict[str, tuple[str, str]]:
    """source id -> (its entry in the corpus file, its file name)."""
    _, _, entries = corpus_text.partition("\nsources:\n")
    found: dict[str, tuple[str, str]] = {}
    for block in re.split(r"\n(?=  - id: )", entries.strip("\n")):
        sid = re.search(r"- id: (\S+)", block)
        file = re.search(r"\bfile: (\S+)", block)
        assert sid and file, block
        found[sid.group(1)] = (block.rstrip("\n") + "\n", file.group(1))
    return found


def generate(count: int, dest: Path) -> int:
    """Write the corpus; returns the number of mapping files written."""
    if count < len(STUDIES):
        raise SystemExit(f"N must be at least {len(STUDIES)} (the seed studies)")
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} exists and is not empty")
    sources_dir = dest / "sources"
    sources_dir.mkdir(parents=True)
    corpus_text = (SEED / "corpus.yaml").read_text(encoding="utf-8")
    registered = seed_sources(corpus_text)
    texts = {sid: (SEED_SOURCES / file).read_bytes() for sid, (_, file) in registered.items()}
    for sid, (_, file) in registered.items():
        (sources_dir / file).write_bytes(texts[sid])
    for seed in sorted(SEED.glob("*.yaml")):
        if seed.stem not in STUDIES and seed.name != "corpus.yaml":
            shutil.copyfile(seed, dest / seed.name)
    templates = [
        study_template((SEED / f"{name}.yaml").read_text(encoding="utf-8"), set(registered))
        for name in STUDIES
    ]
    extra: list[str] = []
    for i in range(count):
        template, quoted = templates[i % len(STUDIES)]
        suffix = "" if i < len(STUDIES) else f"-s{i:05d}"
        name = STUDIES[i % len(STUDIES)] + suffix
        (dest / f"{name}.yaml").write_text(template.replace(_MARK, suffix), encoding="utf-8")
        if not suffix:
            continue
        for sid in sorted(quoted):
            entry, file = registered[sid]
            new_file = f"{Path(file).stem}{suffix}{Path(file).suffix}"
            (sources_dir / new_file).write_bytes(texts[sid])
            extra.append(entry.replace(f"- id: {sid}", f"- id: {sid}{suffix}", 1).replace(file, new_file, 1))
    corpus_text = re.sub(
        r"^sources_dir: .*$", "sources_dir: sources", corpus_text, count=1, flags=re.MULTILINE
    )
    (dest / "corpus.yaml").write_text(corpus_text.rstrip("\n") + "\n" + "".join(extra), encoding="utf-8")
    return len(list(dest.glob("*.yaml")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("count", type=int, help="number of studies (at least 4)")
    ap.add_argument("dest", type=Path, help="new or empty directory")
    args = ap.parse_args(argv)
    files = generate(args.count, args.dest)
    print(f"{args.count} studies, {files} mapping files in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

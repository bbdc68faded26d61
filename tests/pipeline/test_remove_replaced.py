"""A replaced build is deleted by several threads (output.remove_replaced): all of it, and nothing
that a symbolic link inside it points to."""

from __future__ import annotations

from pathlib import Path

from evidence_publisher.output import remove_replaced


def test_every_file_and_folder_of_a_replaced_build_goes(tmp_path: Path) -> None:
    old = tmp_path / ".dist.old-x"
    for folder, count in (("resources", 300), ("ndjson", 5)):
        (old / folder).mkdir(parents=True)
        for i in range(count):
            (old / folder / f"Evidence-{i}.json").write_text("{}\n")
    (old / "build-report.json").write_text("{}\n")
    (old / "ndjson" / "nested").mkdir()  # not a build's, but removed with the rest
    (old / "ndjson" / "nested" / "x").write_text("x")
    remove_replaced(old)
    assert not old.exists()


def test_what_a_symbolic_link_in_it_points_to_is_left(tmp_path: Path) -> None:
    outside = tmp_path / "mine"
    outside.mkdir()
    (outside / "Evidence-1.json").write_text("keep")
    (outside / "notes.txt").write_text("keep")
    old = tmp_path / ".dist.old-y"
    old.mkdir()
    (old / "resources").symlink_to(outside, target_is_directory=True)  # a folder that is a link
    (old / "ndjson").mkdir()
    (old / "ndjson" / "Evidence.ndjson").symlink_to(outside / "notes.txt")  # a file that is a link
    remove_replaced(old)
    assert not old.exists()
    assert sorted(p.name for p in outside.iterdir()) == ["Evidence-1.json", "notes.txt"]
    assert (outside / "notes.txt").read_text() == "keep"

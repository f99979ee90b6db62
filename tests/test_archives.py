"""Safe zip extraction and deterministic zipping (labhelpers.local.archives)."""

import io
import os
import stat
import zipfile

import pytest

from labhelpers.local.archives import ArchiveError, extract_zip, zip_dir


def make_zip(*entries) -> bytes:
    """Entries are (name, data) files, or (name, target, "link") symlinks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for entry in entries:
            if len(entry) == 3:
                info = zipfile.ZipInfo(entry[0])
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, entry[1])
            else:
                zf.writestr(entry[0], entry[1])
    return buffer.getvalue()


def make_tree(root):
    (root / "scripts").mkdir(parents=True)
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "scripts" / "start.sh").write_text("#!/bin/bash\necho start\n")
    (root / "scripts" / "start.sh").chmod(0o755)
    (root / ".hidden").write_text("dot")


def test_zip_then_extract_keeps_files_folders_and_exec_bit(tmp_path):
    make_tree(tmp_path / "in")
    data = zip_dir(tmp_path / "in")

    written = extract_zip(data, tmp_path / "out")

    assert written == [".hidden", "index.html", "scripts/start.sh"]
    assert (tmp_path / "out" / "index.html").read_text() == "<h1>hi</h1>"
    start = tmp_path / "out" / "scripts" / "start.sh"
    assert stat.S_IMODE(start.stat().st_mode) == 0o755
    assert os.access(start, os.X_OK)
    assert not os.access(tmp_path / "out" / "index.html", os.X_OK)


def test_zip_dir_is_deterministic_and_sorted(tmp_path):
    make_tree(tmp_path / "in")
    first, second = zip_dir(tmp_path / "in"), zip_dir(tmp_path / "in")
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == sorted(names) == [".hidden", "index.html", "scripts/start.sh"]


def test_zip_dir_with_chosen_files_and_names(tmp_path):
    make_tree(tmp_path / "in")
    outside = tmp_path / "build.json"
    outside.write_text("{}")
    data = zip_dir(
        tmp_path / "in", files=["index.html", ("bin/start", "scripts/start.sh"), ("build.json", outside)]
    )
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["bin/start", "build.json", "index.html"]
        assert zf.read("build.json") == b"{}"
        assert stat.S_IMODE(zf.getinfo("bin/start").external_attr >> 16) == 0o755


def test_zip_dir_refuses_two_files_with_one_name_and_unsafe_names(tmp_path):
    make_tree(tmp_path / "in")
    with pytest.raises(ArchiveError, match="index.html"):
        zip_dir(tmp_path / "in", files=["index.html", ("index.html", "scripts/start.sh")])
    with pytest.raises(ArchiveError, match=r"\.\./x"):
        zip_dir(tmp_path / "in", files=[("../x", "index.html")])


def test_extract_from_a_path(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip(("dir/", b""), ("dir/a.txt", b"A"), ("./b.txt", b"B")))
    assert extract_zip(archive, tmp_path / "out") == ["dir/a.txt", "b.txt"]
    assert (tmp_path / "out" / "dir" / "a.txt").read_bytes() == b"A"


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ([("ok.txt", b"x"), ("../evil.txt", b"x")], "../evil.txt"),
        ([("a/../../evil.txt", b"x")], "a/../../evil.txt"),
        ([("/etc/evil.txt", b"x")], "/etc/evil.txt"),
        ([("..\\evil.txt", b"x")], "evil.txt"),
        ([("C:/evil.txt", b"x")], "C:/evil.txt"),
        ([("link", "../../etc", "link")], "link"),
        ([("link", "/etc/passwd", "link")], "link"),
        ([("sub/link", "../../outside", "link")], "sub/link"),
    ],
)
def test_extract_refuses_entries_that_escape_and_writes_nothing(tmp_path, entries, named):
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError) as caught:
        extract_zip(make_zip(*entries), dest)
    assert named in str(caught.value)
    assert list(dest.iterdir()) == []


def test_extract_refuses_a_link_that_escapes_through_another_link(tmp_path):
    # "here" -> "." is harmless; "up" -> "here/.." looks inside when read as text but resolves to the parent.
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="'up'"):
        extract_zip(make_zip(("here", ".", "link"), ("up", "here/..", "link")), dest)
    assert not (dest / "up").exists()


def test_extract_keeps_links_that_stay_inside(tmp_path):
    data = make_zip(("site/index.html", b"hi"), ("current", "site", "link"))
    assert extract_zip(data, tmp_path / "out") == ["site/index.html", "current"]
    assert (tmp_path / "out" / "current" / "index.html").read_bytes() == b"hi"


def test_extract_never_writes_through_links_already_in_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "secret.txt").symlink_to(outside / "secret.txt")
    (dest / "escape").symlink_to(outside)

    extract_zip(make_zip(("secret.txt", b"replaced")), dest)
    assert (outside / "secret.txt").read_text() == "keep"
    assert not (dest / "secret.txt").is_symlink()
    with pytest.raises(ArchiveError, match="escape/new.txt"):
        extract_zip(make_zip(("escape/new.txt", b"x")), dest)
    assert list(outside.iterdir()) == [outside / "secret.txt"]


def test_extract_without_unix_modes_uses_default_permissions(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        info = zipfile.ZipInfo("win.txt")
        info.create_system = 0
        info.external_attr = 0x20  # MS-DOS "archive" attribute, no unix mode
        zf.writestr(info, b"x")
    extract_zip(buffer.getvalue(), tmp_path)
    assert (tmp_path / "win.txt").stat().st_mode & 0o600 == 0o600


def test_not_a_zip(tmp_path):
    with pytest.raises(ArchiveError, match="not a zip"):
        extract_zip(b"hello", tmp_path)


def test_zip_stores_a_link_inside_the_folder_as_a_link(tmp_path):
    make_tree(tmp_path / "in")
    (tmp_path / "in" / "home.html").symlink_to("index.html")
    data = zip_dir(tmp_path / "in")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        link = zf.getinfo("home.html")
        assert stat.S_ISLNK(link.external_attr >> 16) and zf.read(link) == b"index.html"
    extract_zip(data, tmp_path / "out")
    assert os.readlink(tmp_path / "out" / "home.html") == "index.html"


@pytest.mark.parametrize("how", ["a link to a file", "a file in a linked folder"])
def test_zip_refuses_what_leads_outside_the_folder_and_never_reads_it(tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow").write_text("host secret")
    make_tree(tmp_path / "in")
    if how == "a link to a file":
        (tmp_path / "in" / "shadow").symlink_to(outside / "shadow")
        files = None
    else:
        (tmp_path / "in" / "etc").symlink_to(outside)
        files = ["index.html", "etc/shadow"]
    with pytest.raises(ArchiveError, match="leads outside") as refused:
        zip_dir(tmp_path / "in", files=files)
    assert "shadow" in str(refused.value)

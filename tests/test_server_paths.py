"""The browser-tool server only serves and writes files under its roots, and
only answers requests addressed to itself."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from SegmentationCore.core.errors import OutputError
from SegmentationCore.server import create_server, default_output_root
from SegmentationCore.server.paths import PathOutsideRootError, Root, safe_file_name

import server_helpers as helpers
from server_helpers import EXR_SHOT, PNG_SHOT, Client

SECRET = "top secret, outside every root"


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """plates/ (two shots, a link to an outside shot, a linked frame),
    out/, and an outside folder holding a secret and a plate."""
    base = tmp_path_factory.mktemp("roots")
    plates = helpers.write_plates(base / "plates")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    helpers.synthetic.SyntheticShot(helpers.exr_spec()).write_plate(outside / "stolen", "plate", "png")
    os.symlink(outside / "stolen", plates / "linked_shot")  # a folder link leading out
    lonely = plates / "shot030"
    lonely.mkdir()
    os.symlink(outside / "stolen" / "plate.1001.png", lonely / "plate.1001.png")  # a frame link leading out
    os.symlink(outside / "secret.txt", plates / "shot010" / "notes.txt")
    server = helpers.start(plates, base / "out")
    yield {"base": base, "plates": plates, "outside": outside, "server": server, "client": Client(server)}
    helpers.stop(server)


# -- Root unit checks ------------------------------------------------------------------


@pytest.mark.parametrize("relative", [
    "..", "../outside/secret.txt", "a/../../outside", "/etc/passwd", "//etc/passwd", "C:/Windows",
    "a\\..\\..\\x", "shot010/%2e%2e/x", "x\x00y", "a/./../..",
])
def test_root_refuses_paths_that_could_leave_it(tmp_path, relative):
    root = Root(tmp_path, "plate")
    with pytest.raises(PathOutsideRootError):
        root.resolve(relative, must_exist=False)


def test_root_refuses_links_leading_out_for_reading_and_writing(layout):
    root = Root(layout["plates"], "plate")
    with pytest.raises(PathOutsideRootError):
        root.resolve("linked_shot/plate.1001.png")
    with pytest.raises(PathOutsideRootError):
        root.resolve("shot010/notes.txt")
    with pytest.raises(PathOutsideRootError):
        root.resolve("linked_shot/new/file.json", must_exist=False)  # writing through a link
    assert root.resolve("shot010/plate.1001.png").is_file()
    assert root.resolve("shot010/new/x.json", must_exist=False).parent.name == "new"


def test_safe_file_name():
    assert safe_file_name("prompts.json") == "prompts.json"
    for bad in ("../x", "a/b", ".hidden", "", "a..b", "x" * 200):
        with pytest.raises(PathOutsideRootError):
            safe_file_name(bad)


# -- over HTTP -------------------------------------------------------------------------


def _refused(status: int, data: bytes) -> None:
    assert status in (400, 403, 404), status
    assert SECRET.encode() not in data
    assert b"import" not in data  # no Python source either


@pytest.mark.parametrize("path", [
    "/static/../server/app.py",
    "/static/%2e%2e/server/app.py",
    "/static/%2E%2E/%2E%2E/web/../server/http.py",
    "/static/%252e%252e/server/app.py",
    "/static/..%2fserver%2fapp.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/../../../../../../etc/passwd",
    "/static/..\\server\\app.py",
    "/../../../../etc/passwd",
])
def test_static_files_stay_in_the_web_folder(layout, path):
    status, _, data = layout["client"].request("GET", path)
    _refused(status, data)


def test_static_files_are_served(layout):
    status, headers, data = layout["client"].request("GET", "/static/common.js")
    assert status == 200 and b"Tools" in data
    assert headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for page in ("/", "/bench", "/interactive"):
        status, _, data = layout["client"].request("GET", page)
        assert status == 200 and b"<!DOCTYPE html>" in data


@pytest.mark.parametrize("shot", [
    "../outside/stolen/plate.####.png",
    "shot010/../../outside/stolen/plate.####.png",
    "%2e%2e/outside/stolen/plate.####.png",
    "/etc/plate.####.png",
    str(pathlib.Path("/tmp") / "plate.####.png"),
    "linked_shot/plate.####.png",
    "shot030/plate.####.png",
    "shot010/notes.txt",
])
def test_shots_stay_in_the_plate_root(layout, shot):
    client = layout["client"]
    status, _, data = client.get("/api/frame", shot=shot, frame=1001)
    _refused(status, data)
    status, _, data = client.get("/api/shot", shot=shot)
    _refused(status, data)


def test_only_shots_inside_the_root_are_listed(layout):
    shots = {s["id"] for s in layout["client"].get_json("/api/shots")["shots"]}
    assert shots == {PNG_SHOT, EXR_SHOT}


def test_requests_for_other_hosts_are_refused(layout):
    client = layout["client"]
    for host in ("evil.example", "evil.example:80", f"127.0.0.1.evil.example:{client.port}", ""):
        status, _, data = client.request("GET", "/api/shots", headers={"Host": host})
        assert status == 403, host
        assert b"shot010" not in data
    for host in (f"localhost:{client.port}", f"127.0.0.1:{client.port}"):
        assert client.request("GET", "/api/shots", headers={"Host": host})[0] == 200


def test_cross_site_and_form_posts_are_refused(layout):
    client = layout["client"]
    body = json.dumps({"shot": PNG_SHOT, "class": "person"}).encode()
    status, _, _ = client.request("POST", "/api/object/add", body, {"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = client.request("POST", "/api/object/add", body, {"Content-Type": "text/plain"})
    assert status == 415
    status, _, _ = client.request("POST", "/api/object/add", b"shot=x", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    session = client.get_json("/api/session", shot=PNG_SHOT)["session"]
    assert session["objects"] == []  # none of them changed anything
    ok = client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"}, headers={"Origin": f"http://127.0.0.1:{client.port}"})
    assert len(ok["session"]["objects"]) == 1
    client.post("/api/undo", {"shot": PNG_SHOT})


def test_no_cors_headers(layout):
    _, headers, _ = layout["client"].request("GET", "/api/shots", headers={"Origin": "http://evil.example"})
    assert not any(name.lower().startswith("access-control-") for name in headers)


def test_writes_through_a_link_in_the_output_root_are_refused(tmp_path):
    plates = helpers.write_plates(tmp_path / "plates")
    outside = tmp_path / "outside"
    outside.mkdir()
    output = tmp_path / "out"
    (output / "shot010").mkdir(parents=True)
    os.symlink(outside, output / "shot010" / "plate")  # the shot's output folder leads out
    server = helpers.start(plates, output)
    try:
        client = Client(server)
        client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})
        mask = helpers.synthetic.SyntheticShot(helpers.png_spec(), size=(360, 640)).gt_masks(1006)[1]
        x, y = helpers.centre_of(mask)
        client.post("/api/click", {"shot": PNG_SHOT, "object": 1, "frame": 1006, "x": x, "y": y})
        refused = client.post("/api/prompts/save", {"shot": PNG_SHOT}, expect=403)
        assert "outside the output root" in refused["error"]
        assert list(outside.iterdir()) == []
    finally:
        helpers.stop(server)


def test_binds_to_loopback_by_default(tmp_path):
    plates = helpers.write_plates(tmp_path / "plates")
    server = create_server(plates, tmp_path / "out", port=0, models=["synthetic"], quiet=True)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_output_root_must_not_overlap_the_plates(tmp_path):
    plates = helpers.write_plates(tmp_path / "plates")
    for output in (plates, plates / "results", tmp_path):
        with pytest.raises(OutputError):
            create_server(plates, output, port=0, models=["synthetic"], quiet=True)
    assert default_output_root(plates) == tmp_path / "plates_autoseg"

"""``autoseg review`` and ``autoseg report`` on a finished synthetic run: the
review API (confinement, errors), the contact sheet and summary, and the
review page in a real headless Chromium (Playwright): load, scrub, click a
flag, open the interactive tool there. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import json
import shutil
import urllib.parse

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.pipeline import review

from server_helpers import Client

VIEWPORT = {"width": 1360, "height": 900}


def autoseg(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 16-frame generated shot run with the ``faulty`` synthetic backends
    (so there are flags), plates and output in separate folders."""
    base = tmp_path_factory.mktemp("review")
    spec = synthetic.generate_shot(seed=4, num_frames=16, width=480, height=270, num_objects=5)
    synthetic.SyntheticShot(spec).write_plate(base / "plates" / "shot010", "plate", "exr")
    code, _, err = autoseg(
        "run", base / "plates" / "shot010" / "plate.####.exr", "-o", base / "out", "--progress", "none",
        "--synthetic", base / "plates" / "shot010" / "plate.shot.json", "--synthetic-faults", "faulty", "--no-refine-edges",
    )
    assert code == 0, err
    summary = json.loads((base / "out" / ".autoseg" / "plate" / "qc.json").read_text())
    assert summary["flags"], "the faulty backends should leave something to flag"
    return {"base": base, "plates": base / "plates", "out": base / "out", "summary": summary}


@pytest.fixture(scope="module")
def review_server(finished_run):
    from SegmentationCore.server.review import start_review_in_thread

    server = start_review_in_thread(finished_run["out"], finished_run["plates"], port=0, quiet=True)
    yield {"server": server, "url": server.url.rstrip("/"), "client": Client(server)}
    server.shutdown()
    server.server_close()


# -- report ----------------------------------------------------------------------------------


def test_report_writes_a_contact_sheet_and_a_summary(finished_run, tmp_path):
    code, out, err = autoseg("report", finished_run["out"], "--every", "5", "--format", "png", "--report-dir", tmp_path, "--tile-width", "240")
    assert code == 0, err
    assert "flags" in out and (tmp_path / "plate.contact.png").is_file()
    import OpenImageIO as oiio

    image = oiio.ImageBuf(str(tmp_path / "plate.contact.png"))
    spec = image.spec()
    tiles = len(review.sheet_frames(finished_run["summary"]["frames"], 5))
    assert tiles == 4  # 1001, 1006, 1011, 1016
    assert spec.width == 4 * 240 + 5 * 4 and spec.nchannels == 3
    pixels = image.get_pixels(oiio.UINT8)
    assert (pixels[..., 0].astype(int) - pixels[..., 2].astype(int)).max() > 100  # coloured layers / red frames, not a grey plate
    text = (tmp_path / "plate.summary.txt").read_text()
    top = finished_run["summary"]["flags"][0]
    assert top["text"] in text and "Layers:" in text
    page = (tmp_path / "plate.summary.html").read_text()
    assert 'src="plate.contact.png"' in page and "<table>" in page


def test_report_without_a_run_is_a_clear_error(tmp_path):
    code, _, err = autoseg("report", tmp_path)
    assert code != 0 and "no autoseg run" in err


# -- the review API -----------------------------------------------------------------------------


def test_review_api_is_confined_to_the_output_root(review_server, finished_run):
    client = review_server["client"]
    runs = client.get_json("/api/review/runs")
    assert runs["runs"] == ["plate"]
    data = client.get_json("/api/review/summary", run="plate")
    assert data["shot"] == "shot010/plate.####.exr" and data["summary"]["flags"] == finished_run["summary"]["flags"]
    for bad in ("../plates", "..", ".autoseg", "plate/../../x"):
        status, _, _ = client.request("GET", "/api/review/summary?" + urllib.parse.urlencode({"run": bad}))
        assert status in (403, 404), bad
    status, _, _ = client.request("GET", "/api/review/overlay?run=plate&frame=99")
    assert status == 404
    status, _, _ = client.request("GET", "/api/review/runs", headers={"Host": "evil.example:80"})
    assert status == 403


# -- the page in Chromium -------------------------------------------------------------------------


@pytest.mark.browser
def test_review_page_load_scrub_flag_and_interactive(browser, review_server, finished_run, artifacts_dir):
    url = review_server["url"]
    summary = finished_run["summary"]
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors, external = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url + "/") or route.request.url.startswith("data:")
               else (external.append(route.request.url), route.abort()))
    try:
        # load
        page.goto(f"{url}/review")
        page.wait_for_function("() => document.querySelector('#view').dataset.frame === '1001'")
        assert page.locator("#flags li").count() == len(summary["flags"])
        assert page.locator("#lanes .lane").count() == len(summary["layers"])
        assert page.evaluate("() => document.querySelector('#view').naturalWidth") == 480
        # scrub
        page.locator("#frame-slider").fill("7")
        page.wait_for_function("() => document.querySelector('#view').dataset.frame === '1008'")
        assert page.input_value("#frame") == "1008"
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('#view').dataset.frame === '1009'")
        # click a flag: its frame and layer
        flag = summary["flags"][0]
        page.locator("#flags li").first.click()
        page.wait_for_function(f"() => document.querySelector('#view').dataset.frame === '{flag['first']}'")
        assert page.locator("#lanes .lane.current").get_attribute("data-layer") == flag["layer"]
        assert urllib.parse.quote(flag["layer"], safe="") in page.get_attribute("#view", "src")
        assert flag["layer"] in page.inner_text("#selection")
        page.screenshot(path=str(artifacts_dir / "review-page.png"))
        # open the interactive tool on that frame, with an object for the layer active
        page.locator("#open-interactive").click()
        page.wait_for_url("**/interactive#*")
        page.wait_for_function(f"() => document.querySelector('#frame').value === '{flag['first']}'")
        page.wait_for_selector("#objects li")
        session = review_server["client"].get_json("/api/session", shot="shot010/plate.####.exr")["session"]
        created = session["objects"][-1]
        assert created["class"] == flag["layer"].split("/")[1]
        hash_values = dict(urllib.parse.parse_qsl(page.evaluate("() => location.hash.slice(1)")))
        assert hash_values["object"] == str(created["id"]) and hash_values["frame"] == str(flag["first"])
        page.screenshot(path=str(artifacts_dir / "review-interactive.png"))
    finally:
        context.close()
    assert external == [], f"the page tried to reach {external}"
    assert errors == [], f"errors in the page: {errors}"


def test_review_without_a_run_is_a_clear_error(tmp_path):
    code, _, err = autoseg("review", tmp_path, "--port", "0")
    assert code != 0 and "no autoseg run" in err

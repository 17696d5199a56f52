"""End to end in a real headless Chromium (Debian's, driven by Playwright):
the prompt test bench and interactive segmentation on a generated shot with
synthetic backends. Screenshots of both tools go to test-artifacts/."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from SegmentationCore.idmatte import cryptomatte, objectid
from SegmentationCore.pipeline import interactive
from SegmentationCore import synthetic

import server_helpers as helpers
from server_helpers import PNG_SHOT, Client, centre_of

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1360, "height": 760}
WORK = (360, 640)


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    """A server over a generated plate; frame 1006 has a false box spanning
    two people and a duplicate box on part of a third, so the bench shows a
    discard and a merge."""
    base = tmp_path_factory.mktemp("browser")
    plates = helpers.write_plates(base / "plates")
    faults = synthetic.Faults(detector=synthetic.DetectorFaults(false_pairs=frozenset({(1, 2, 1006)}), part_boxes=frozenset({(0, 1006)})))
    server = helpers.start(plates, base / "out", synthetic_faults=faults)
    yield {"server": server, "client": Client(server), "url": server.url.rstrip("/"), "out": base / "out"}
    helpers.stop(server)


@pytest.fixture()
def page(browser, tools):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    external: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    def only_local(route):
        if route.request.url.startswith(tools["url"] + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    yield page
    context.close()
    assert external == [], f"the page tried to reach {external}"
    assert errors == [], f"errors in the page: {errors}"


# -- helpers ---------------------------------------------------------------------------


def wait_shots(page) -> None:
    page.wait_for_selector("#shot option", state="attached")


def canvas_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of a working-resolution pixel of the frame canvas."""
    box = page.locator("#view").bounding_box()
    width, height = page.evaluate("() => [document.querySelector('#view').width, document.querySelector('#view').height]")
    return box["x"] + x / width * box["width"], box["y"] + y / height * box["height"]


def canvas_pixels(page, x: float, y: float, radius: int = 0) -> np.ndarray:
    data = page.evaluate(
        """([x, y, r]) => {
            const c = document.querySelector('#view');
            const d = c.getContext('2d').getImageData(Math.round(x) - r, Math.round(y) - r, 2 * r + 1, 2 * r + 1).data;
            return Array.from(d);
        }""",
        [x, y, radius],
    )
    return np.asarray(data, np.int32).reshape(-1, 4)[:, :3]


def count_colour(page, rgb: tuple[int, int, int]) -> int:
    return page.evaluate(
        """([r, g, b]) => {
            const c = document.querySelector('#view');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) n++;
            return n;
        }""",
        list(rgb),
    )


def truth_centre(index: int, frame: int) -> tuple[float, float]:
    return centre_of(synthetic.SyntheticShot(helpers.png_spec(), size=WORK).gt_masks(frame)[index])


def session(tools) -> dict:
    return tools["client"].get_json("/api/session", shot=PNG_SHOT)["session"]


# -- the prompt test bench -----------------------------------------------------------------


def test_prompt_test_bench(page, tools, artifacts_dir):
    page.goto(f"{tools['url']}/")
    page.wait_for_function("() => document.querySelector('#models').innerText.includes('synthetic')")
    assert page.locator("a.card").count() == 2 and "Plates:" in page.inner_text("#roots")
    shot = urllib.parse.quote(PNG_SHOT)
    page.goto(f"{tools['url']}/bench#shot={shot}&frame=1006")
    wait_shots(page)
    page.wait_for_function("() => document.querySelector('#view').width === 640")
    page.fill("#prompt", "person")
    page.press("#prompt", "Enter")
    rows = page.locator("#detections tbody tr")
    rows.first.wait_for()
    assert rows.count() == 5
    decisions = page.locator("#detections .decision").all_inner_texts()
    assert sorted(decisions) == ["discarded", "kept", "kept", "kept", "merged"]
    reasons = page.locator("#detections tbody td .small").all_inner_texts()
    assert any(r.startswith("discarded: overlaps") for r in reasons)
    assert any(r.startswith("merged into") for r in reasons)
    assert "5 boxes" in page.inner_text("#status")

    kept_green = (0x35, 0xC4, 0x6A)  # kept boxes are drawn in this colour
    assert count_colour(page, kept_green) > 100
    page.uncheck("#show-boxes")
    assert count_colour(page, kept_green) == 0
    page.check("#show-boxes")
    page.screenshot(path=str(artifacts_dir / "browser-bench.png"))

    # thresholds apply live: requiring three overlaps keeps the spanning box
    page.fill("#discard_min_others", "3")
    page.dispatch_event("#discard_min_others", "input")
    page.wait_for_function("() => !document.querySelector('#detections').innerText.includes('discarded')")
    assert "3 others" in page.inner_text("#discard_min_others-value")
    page.wait_for_function("() => document.querySelector('#settings-cli').value.includes('--discard-min-others 3')")
    command = page.input_value("#settings-cli")
    assert command.startswith("autoseg run ") and "--prompt person" in command and "--box-threshold 0.35" in command
    assert '"prompt": "person"' in page.input_value("#settings-gaffer")

    # a box threshold above every score leaves nothing
    page.fill("#box_threshold", "0.9")
    page.dispatch_event("#box_threshold", "input")
    page.wait_for_function("() => document.querySelectorAll('#detections tbody tr').length === 0")


# -- interactive segmentation ------------------------------------------------------------------


def test_interactive_segmentation(page, tools, artifacts_dir):
    page.goto(f"{tools['url']}/interactive")
    wait_shots(page)
    page.select_option("#shot", PNG_SHOT)
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Frame 1001')")
    assert page.locator("#view").evaluate("c => c.width") == 640
    page.fill("#frame", "1006")
    page.press("#frame", "Enter")
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Frame 1006')")

    # an object, and a positive click on the person it should follow
    page.fill("#new-class", "person")
    page.click("#add-object")
    page.wait_for_selector("#objects li.active")
    x, y = truth_centre(1, 1006)
    px, py = canvas_point(page, x, y)
    page.mouse.click(px, py)
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Positive click')")
    assert "/person/person_0001" in page.inner_text("#status")
    current = session(tools)
    assert current["objects"][0]["keyframes"]["1006"] == [[pytest.approx(x, abs=1), pytest.approx(y, abs=1), 1]]

    # the mask shows: pixels on the person change when masks are hidden
    probe_x, probe_y = x, y + 12
    shown = canvas_pixels(page, probe_x, probe_y, 2)
    page.keyboard.press("h")
    hidden = canvas_pixels(page, probe_x, probe_y, 2)
    page.keyboard.press("h")
    assert np.abs(shown - hidden).mean() > 20

    # a negative right click, then undo and redo from the keyboard
    nx, ny = truth_centre(2, 1006)
    page.mouse.click(*canvas_point(page, nx, ny), button="right")
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Negative click')")
    assert [c[2] for c in session(tools)["objects"][0]["keyframes"]["1006"]] == [1, 0]
    page.keyboard.press("Control+z")
    page.wait_for_function("() => !document.querySelector('#redo').disabled")
    assert len(session(tools)["objects"][0]["keyframes"]["1006"]) == 1
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => document.querySelector('#redo').disabled")
    assert len(session(tools)["objects"][0]["keyframes"]["1006"]) == 2

    # a second object, keyed three frames later (scrubbed with the arrow keys)
    page.click("#add-object")
    page.wait_for_function("() => document.querySelectorAll('#objects li').length === 2")
    page.locator("#view").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('#frame').value === '1009'")
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Frame 1009')")
    x2, y2 = truth_centre(2, 1009)
    page.mouse.click(*canvas_point(page, x2, y2))
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Positive click')")
    assert session(tools)["keyframes"] == [1006, 1009]

    # track the shot and review another frame
    page.click("#track")
    page.wait_for_function("() => /Tracking: done/.test(document.querySelector('#track-info').innerText)", timeout=60000)
    current = session(tools)
    assert current["tracked_frames"] and not current["tracking_stale"]
    page.fill("#frame", "1011")
    page.press("#frame", "Enter")
    page.wait_for_function("() => /Frame 1011.*tracked mask/.test(document.querySelector('#status').innerText)")
    tx, ty = truth_centre(1, 1011)
    shown = canvas_pixels(page, tx, ty, 2)
    page.keyboard.press("h")
    hidden = canvas_pixels(page, tx, ty, 2)
    page.keyboard.press("h")
    assert np.abs(shown - hidden).mean() > 20
    page.keyboard.press("Shift+ArrowLeft")  # back to the last keyframe
    page.wait_for_function("() => document.querySelector('#frame').value === '1009'")
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Frame 1009')")
    page.screenshot(path=str(artifacts_dir / "browser-interactive.png"))

    # "preview refined edges": the tracked masks come back refined at plate resolution
    with page.expect_response(lambda r: "/api/masks" in r.url and "refine_edges=1" in r.url) as preview:
        page.check("#preview-refined")
    tracked = [m for m in preview.value.json()["masks"] if m["source"] == "tracked"]
    assert tracked and all(m["refined"] for m in tracked)
    assert helpers.decode_mask(tracked[0]["mask"]).shape == WORK  # the plate's size (= working size here)
    with page.expect_response(lambda r: "/api/masks" in r.url and "refine_edges" not in r.url) as plain:
        page.uncheck("#preview-refined")
    assert not any(m["refined"] for m in plain.value.json()["masks"])

    # save the prompts for autoseg / the Gaffer Track node
    page.click("#save-prompts")
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Saved prompts')")
    folder = tools["out"] / "shot010" / "plate"
    saved = interactive.load_prompts(folder / "prompts.json")
    assert [o.name for o in saved.objects] == ["/person/person_0001", "/person/person_0002"]
    assert sorted(saved.keyframes) == [1006, 1009]
    assert saved.objects[0].keyframes[1006].labels.tolist() == [1, 0]
    assert saved.mode == "only"
    # saved again as fixes to the automatic layers (autoseg's "combine" mode)
    page.select_option("#prompt-mode", "combine")
    page.check("#overwrite")
    page.click("#save-prompts")
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Saved prompts (combined')")
    assert interactive.load_prompts(folder / "prompts.json").mode == "combine"
    page.uncheck("#overwrite")

    # write ObjectId and Cryptomatte files and check them (edges refined: the default, as autoseg)
    assert page.is_checked("#refine-edges")
    with page.expect_request(lambda r: r.url.endswith("/api/outputs/write")) as written:
        page.click("#write-outputs")
    assert written.value.post_data_json["refine_edges"] is True
    page.wait_for_function("() => /Writing outputs: done/.test(document.querySelector('#track-info').innerText)", timeout=60000)
    page.wait_for_function("() => Number(document.querySelector('#files').dataset.count || 0) >= 26")
    listed = page.inner_text("#files")
    assert "plate.objectid.####.exr 12 frames 1001-1012" in listed and "prompts.json" in listed
    for frame in range(1001, 1013):
        assert (folder / f"plate.objectid.{frame}.exr").is_file() and (folder / f"plate.crypto.{frame}.exr").is_file()
    gt = synthetic.SyntheticShot(helpers.png_spec(), size=WORK).gt_masks(1011)
    layers = objectid.read_objectid(folder / "plate.objectid.1011.exr")
    assert helpers.iou(layers["/person/person_0001"], gt[1]) > 0.9
    crypto = cryptomatte.read_cryptomatte(folder / "plate.crypto.1011.exr")
    assert helpers.iou(crypto["/person/person_0001"], gt[1]) > 0.9

    # "refine edges" off writes the bilinear mattes: different near the edges only
    refined = layers["/person/person_0001"].astype(np.float32)
    stamp = (folder / "plate.objectid.1012.exr").stat().st_mtime_ns
    page.uncheck("#refine-edges")
    page.check("#overwrite")
    with page.expect_request(lambda r: r.url.endswith("/api/outputs/write")) as written:
        page.click("#write-outputs")
    assert written.value.post_data_json["refine_edges"] is False
    page.wait_for_function("() => /Writing outputs: done/.test(document.querySelector('#track-info').innerText)", timeout=60000)
    for _ in range(600):
        if (folder / "plate.objectid.1012.exr").stat().st_mtime_ns != stamp:
            break
        page.wait_for_timeout(100)
    bilinear = objectid.read_objectid(folder / "plate.objectid.1011.exr")["/person/person_0001"].astype(np.float32)
    assert np.abs(bilinear - refined).max() > 0.05
    assert helpers.iou(bilinear, gt[1]) > 0.9

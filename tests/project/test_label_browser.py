"""The labeling page in a real browser: headless Chromium driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Without them
the test skips on a workstation, but fails when ``CI`` is set, so CI never passes by skipping.
``LL4AL_SCREENSHOT=1`` also saves the page as ``docs/label-page.png``.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .web_helpers import digits_project, stored_labels

# Debian's packages; LL4AL_CHROMIUM and LL4AL_CHROMEDRIVER point elsewhere (another system).
CHROMIUM = Path(os.environ.get("LL4AL_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("LL4AL_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOT = Path(__file__).parents[2] / "docs" / "label-page.png"
ANNOTATOR = "dr. ana"


def _needs(what: str) -> None:
    message = f"the browser test needs {what}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: installing it is part of .ci/run)")
    pytest.skip(message)


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _needs('selenium (pip install -e ".[test]")')
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            _needs(f"{path} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=900,600",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    metrics = {"width": 900, "height": 600, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # the viewport
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def serving(folder: Path, **options) -> Iterator[str]:
    """The project's labeling page on a free localhost port: its URL while open."""
    try:
        from werkzeug.serving import make_server

        from ll4al.project.web import create_app
    except ImportError:
        _needs('flask (pip install -e ".[web]")')
    server = make_server("127.0.0.1", 0, create_app(folder, ANNOTATOR, **options), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def served(tmp_path):
    """A digits project with a 12-image batch, served on a free localhost port."""
    folder, order = digits_project(tmp_path, count=40, batch=12, name="digits")
    with serving(folder, trusted_hosts=["127.0.0.1", "localhost"]) as url:
        yield folder, order, url


def truth(sample: str) -> str:
    return sample.split("/")[0]


def test_label_by_click_and_key_undo_skip_and_resume(browser, served):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    folder, order, url = served
    driver = browser

    def shown() -> str | None:
        return driver.find_element(By.TAG_NAME, "body").get_attribute("data-sample")

    def wait_for(sample: str) -> None:
        """Until ``sample`` is on screen, its image loaded; then a moment "looking" at it."""
        WebDriverWait(driver, 15).until(
            lambda d: (
                shown() == sample
                and d.execute_script(
                    "const i = document.getElementById('image');"
                    "return i.complete && i.naturalWidth > 0;"
                )
            ),
            message=f"waiting for {sample}, on screen: {shown()}",
        )
        time.sleep(0.15)

    def progress() -> str:
        return driver.find_element(By.ID, "progress").text

    def press(*keys: str) -> None:
        ActionChains(driver).send_keys(*keys).perform()

    driver.get(url)
    wait_for(order[0])
    assert progress() == "0 / 12"
    assert driver.find_element(By.ID, "annotator").text == ANNOTATOR
    assert "model's guess" in driver.find_element(By.ID, "guess").text
    image = driver.find_element(By.ID, "image")
    assert "pixelated" in image.get_attribute("class") and image.size["width"] >= 80
    assert driver.find_element(By.ID, "filter").is_displayed()  # 10 classes: a filter box

    for i in range(5):  # five by clicking
        driver.find_element(
            By.CSS_SELECTOR, f'button.class[data-class="{truth(order[i])}"]'
        ).click()
        wait_for(order[i + 1])
    for i in range(5, 7):  # two by their digit's key, one through the filter
        press(truth(order[i]))
        wait_for(order[i + 1])
    press("/", truth(order[7]), Keys.ENTER)
    wait_for(order[8])
    assert progress() == "8 / 12"

    driver.find_element(By.ID, "undo").click()  # undo the eighth: back to it
    wait_for(order[7])
    assert progress() == "7 / 12"
    press("s")  # skip it: on to the ninth
    wait_for(order[8])
    assert progress() == "7 / 12"

    driver.refresh()  # a reload resumes at the first unanswered image: the skipped one
    wait_for(order[7])
    assert progress() == "7 / 12"
    assert not driver.find_element(By.ID, "undo").get_attribute("disabled")  # history reloaded
    if os.environ.get("LL4AL_SCREENSHOT") == "1":
        save_screenshot(driver.get_screenshot_as_png())

    assert browser_errors(driver) == []
    labels = stored_labels(folder)
    assert [(r["sample"], r["value"]) for r in labels] == [(s, truth(s)) for s in order[:7]]
    assert all(r["annotator"] == ANNOTATOR and r["source"] == "web" for r in labels)
    assert all(r["batch"] == 1 for r in labels)
    assert all(0.1 <= r["seconds"] < 60 for r in labels), [r["seconds"] for r in labels]


def test_digit_classes_are_labeled_by_their_own_key(browser, tmp_path):
    """Classes named 0-9: the key pressed is the class stored, and every button shows its key."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder, order = digits_project(tmp_path, count=20, batch=20, name="digits")  # 0-9 twice
    assert sorted({truth(s) for s in order}) == [str(d) for d in range(10)]
    driver = browser
    with serving(folder) as url:
        driver.get(url)

        def wait_for(sample: str | None) -> None:
            WebDriverWait(driver, 15).until(
                lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-sample") == sample
            )

        wait_for(order[0])
        keys = {
            b.get_attribute("data-class"): b.find_element(By.TAG_NAME, "kbd").text
            for b in driver.find_elements(By.CSS_SELECTOR, "button.class")
        }
        assert keys == {str(d): str(d) for d in range(10)}
        for i, sample in enumerate(order):
            ActionChains(driver).send_keys(truth(sample)).perform()
            wait_for(order[i + 1] if i + 1 < len(order) else None)
        assert browser_errors(driver) == []
    labels = stored_labels(folder)
    assert [(r["sample"], r["value"]) for r in labels] == [(s, truth(s)) for s in order]


def save_screenshot(png: bytes) -> None:
    """The page as a small PNG (256 colours) for the README."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    small.save(SCREENSHOT, optimize=True)
    assert SCREENSHOT.stat().st_size < 100_000


def test_detection_accept_delete_relabel_and_draw_a_box(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from .web_helpers import boxes_project

    folder, order = boxes_project(tmp_path)
    guesses = {
        r["sample"]: r["guess"] for r in _batch_items(folder)
    }  # {"boxes": [[x1, y1, x2, y2]], "labels": ["cell"], "scores": [0.9]}
    driver = browser
    with serving(folder) as url:
        driver.get(url)

        def wait_for(sample: str) -> None:
            WebDriverWait(driver, 15).until(
                lambda d: (
                    d.find_element(By.TAG_NAME, "body").get_attribute("data-sample") == sample
                    and d.execute_script("return document.getElementById('image').complete;")
                )
            )
            time.sleep(0.15)

        def press(*keys: str) -> None:
            ActionChains(driver).send_keys(*keys).perform()

        wait_for(order[0])  # the model's box is shown: accept it as it is
        assert len(driver.find_elements(By.CSS_SELECTOR, "#overlay rect")) == 1
        press(Keys.ENTER)
        wait_for(order[1])  # select the model's box and delete it, draw one, make it debris
        driver.find_element(By.CSS_SELECTOR, "#overlay rect").click()
        press(Keys.DELETE)
        assert driver.find_elements(By.CSS_SELECTOR, "#overlay rect") == []
        image = driver.find_element(By.ID, "image")
        scale = image.size["width"] / 80
        centre_x, centre_y = image.size["width"] / 2, image.size["height"] / 2

        def offset(x: float, y: float) -> tuple[int, int]:
            return round(x * scale - centre_x), round(y * scale - centre_y)

        start, end = offset(10, 10), offset(40, 35)
        ActionChains(driver).move_to_element_with_offset(
            image, *start
        ).click_and_hold().move_by_offset(end[0] - start[0], end[1] - start[1]).release().perform()
        assert len(driver.find_elements(By.CSS_SELECTOR, "#overlay rect")) == 1
        press("2")  # relabels the selected (new) box
        driver.find_element(By.ID, "accept").click()
        wait_for(order[2])  # delete the model's box from the list: no object here
        driver.find_element(By.CSS_SELECTOR, "#box-list button").click()
        press(Keys.ENTER)
        wait_for(order[3])
        assert browser_errors(driver) == []

    labels = stored_labels(folder)
    assert [r["sample"] for r in labels] == order[:3]
    assert labels[0]["value"] == {
        "boxes": [[float(c) for c in guesses[order[0]]["boxes"][0]]],
        "labels": ["cell"],
    }
    [drawn] = labels[1]["value"]["boxes"]
    assert labels[1]["value"]["labels"] == ["debris"]
    assert all(abs(a - b) <= 1 for a, b in zip(drawn, [10, 10, 40, 35], strict=True)), drawn
    assert labels[2]["value"] == {"boxes": [], "labels": []}
    assert all(r["annotator"] == ANNOTATOR and r["seconds"] >= 0.1 for r in labels)


def _batch_items(folder: Path) -> list[dict]:
    import json

    from ll4al.project.project import Project

    project = Project.open(folder)
    try:
        return [{**dict(r), "guess": json.loads(r["guess"])} for r in project.store.batch_items()]
    finally:
        project.close()


def browser_errors(driver) -> list[str]:
    """The console's errors so far: script errors, refused resources, CSP violations."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]

"""The labeling page on a DICOM project in headless Chromium: the windowed PNG is shown, the
W key steps through the intensity windows, a label by key is stored."""

from __future__ import annotations

import threading

import pytest

from .test_label_browser import _needs, browser, browser_errors  # noqa: F401 (a fixture)

pytest.importorskip("pydicom")  # the test extra installs it; tests/data/test_dicom.py fails without


def test_the_w_key_steps_through_the_windows(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from ll4al.cli import main

    from .test_dicom_project import dicom_folder, init_args

    try:
        from werkzeug.serving import make_server

        from ll4al.project.web import create_app
    except ImportError:
        _needs('flask (pip install -e ".[web]")')
    images = dicom_folder(tmp_path / "images", {"ct/head.dcm": "693_UNCR.dcm"})
    dicom_folder(images, {"mr/small.dcm": "MR_small.dcm"})
    folder = tmp_path / "project"
    assert main(init_args(folder, images)) == 0
    assert main(["query", str(folder), "--k", "2", "--quiet"]) == 0
    server = make_server("127.0.0.1", 0, create_app(folder, "dr. li"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    driver = browser
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/")

        def loaded(suffix: str) -> bool:
            return driver.execute_script(
                "const i = document.getElementById('image');"
                "return i.complete && i.naturalWidth > 0 && i.src.endsWith(arguments[0]);",
                suffix,
            )

        first = driver.find_element(By.TAG_NAME, "body")
        WebDriverWait(driver, 15).until(lambda d: first.get_attribute("data-sample"))
        sample = first.get_attribute("data-sample")
        WebDriverWait(driver, 15).until(lambda d: loaded(".dcm"))
        width = {"ct/head.dcm": 512, "mr/small.dcm": 64}[sample]
        assert (
            driver.execute_script("return document.getElementById('image').naturalWidth") == width
        )
        for name in ("auto", "file", "percentile", "lung"):
            ActionChains(driver).send_keys("w").perform()
            WebDriverWait(driver, 15).until(lambda d, n=name: loaded(f"?window={n}"))
            assert driver.find_element(By.ID, "message").text == f"window: {name}"
        assert "W window" in driver.find_element(By.ID, "keys").text
        ActionChains(driver).send_keys("1" if sample.startswith("ct") else "2").perform()
        WebDriverWait(driver, 15).until(lambda d: first.get_attribute("data-sample") != sample)
        assert browser_errors(driver) == []
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    from ..project_helpers import table

    labels = [(row[1], row[2]) for row in table(folder, "labels")]
    assert labels == [(sample, f'"{sample.split("/")[0]}"')]

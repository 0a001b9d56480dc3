"""The password-reset flow as a person goes through it, in a real browser (Debian's chromium,
driven by chromium-driver): request a code, open the mailed link on a phone-sized screen, set a new
password, then sync with it.  Screenshots are kept in var/artifacts/ (SYNCSTORAGE_ARTIFACTS)."""
import base64
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from loadtest.services import free_port, wait_for
from syncstorage.users.names import username_from_account
from syncstorage.web.app import make_app

from ..conftest import REQUIRE_SERVICES

pytestmark = pytest.mark.services  # a browser, a server thread and an SMTP sink

ARTIFACTS = Path(os.environ.get("SYNCSTORAGE_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "artifacts"))
PHONE = (390, 844)
DESKTOP = (1280, 800)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """A browser keeps its connection open: each connection gets its own thread."""

    daemon_threads = True


@pytest.fixture
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not chromium or not os.path.exists(driver_path):
        if REQUIRE_SERVICES:
            pytest.fail("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
        pytest.skip("chromium is not installed")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def server(make_settings, smtp_sink):
    controller, inbox = smtp_sink
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(make_settings(smtp__host="127.0.0.1", smtp__port=controller.port, users__public_url=base))
    httpd = make_server("127.0.0.1", port, app, server_class=ThreadingServer, handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base, inbox
    httpd.shutdown()
    app.services.close()


def _shot(driver, name: str, size: tuple[int, int]) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(*size)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def submit(driver) -> None:
    """Click the form's button and wait until the answer page has replaced the form (reading the
    page before that would find the old form's elements, gone a moment later).

    The old page is marked with a window property that the new page does not have.  Asking the old
    page's elements whether they are stale instead races the navigation: chromedriver then answers
    with errors of its own ("Node with given id does not belong to the document")."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.syncstorageOldPage = true")
    driver.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(lambda d: d.execute_script(
        "return window.syncstorageOldPage === undefined && document.readyState === 'complete'"))


def test_reset_flow_in_a_browser(browser, server, configuration):
    from selenium.webdriver.common.by import By

    if configuration[1]:
        pytest.skip("the flow is the same with memcached; one run per database is enough")
    base, inbox = server
    email = f"reset-{os.urandom(4).hex()}@example.com"
    name = username_from_account(email)
    request = urllib.request.Request(f"{base}/user/1.0/{name}", method="PUT",
                                     data=json.dumps({"email": email, "password": "the old password"}).encode())
    assert urllib.request.urlopen(request, timeout=10).read().decode() == name
    assert urllib.request.urlopen(f"{base}/user/1.0/{name}/password_reset", timeout=10).read() == b"success"
    wait_for(lambda: inbox.messages, 10, what="the reset mail")
    link = re.search(r"http://\S+", inbox.text(0)).group()
    assert link.startswith(f"{base}/weave-password-reset?")

    browser.set_window_size(*PHONE)
    browser.get(link)
    assert browser.find_element(By.NAME, "username").get_attribute("value") == name
    # the form fits the phone's width: nothing to scroll sideways
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    _shot(browser, "reset-form-phone", PHONE)

    browser.find_element(By.NAME, "password").send_keys("a new password")
    browser.find_element(By.NAME, "confirm").send_keys("another password")
    submit(browser)
    assert "do not match" in browser.find_element(By.CLASS_NAME, "error").text
    _shot(browser, "reset-error-phone", PHONE)

    browser.find_element(By.NAME, "password").send_keys("a new password")
    browser.find_element(By.NAME, "confirm").send_keys("a new password")
    submit(browser)
    assert "Password changed" in browser.find_element(By.TAG_NAME, "h1").text
    _shot(browser, "reset-done-desktop", DESKTOP)

    # the client syncs with the new password, and the old one is gone
    def status(password: str) -> int:
        token = base64.b64encode(f"{name}:{password}".encode()).decode()
        req = urllib.request.Request(f"{base}/1.1/{name}/info/collections", headers={"Authorization": "Basic " + token})
        try:
            return urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as error:
            return error.code
    assert status("a new password") == 200
    assert status("the old password") == 401

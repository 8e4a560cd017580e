"""Drives the dashboard of a running node in headless Chromium, as a user would.

    python3 drive_dashboard.py URL TOKEN SCREENSHOT.png

Talks to Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe:
file descriptors 3 and 4, JSON messages ended by a NUL byte), so it needs only
Python's standard library. Prints one JSON report on standard output; the Swift
test (DashboardTests) checks it.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

url, token, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]


class Browser:
    def __init__(self):
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        self.profile = tempfile.TemporaryDirectory()

        def map_pipes():
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             "--user-data-dir=" + self.profile.name, "--window-size=1280,1000", "about:blank"],
            pass_fds=(3, 4, to_browser_read, from_browser_write), preexec_fn=map_pipes,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def close(self):
        self.process.kill()
        self.process.wait()
        self.profile.cleanup()


def open_page(browser, address):
    target = browser.call("Target.createTarget", {"url": address})["targetId"]
    return browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]


def evaluate(browser, session, expression):
    result = browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    return result["result"].get("value")


SHOWN = """JSON.stringify({
  login: !document.getElementById('login').classList.contains('hidden'),
  node: document.getElementById('node').innerText,
  peers: document.getElementById('peers').innerText,
  tables: document.getElementById('tables').innerText,
  entries: document.getElementById('entries').innerText,
  live: document.getElementById('live').innerText,
  result: document.getElementById('result').innerText,
  fragment: location.hash})"""


def wait_for(browser, session, condition, seconds=20):
    deadline = time.time() + seconds
    shown = {}
    while time.time() < deadline:
        shown = json.loads(evaluate(browser, session, SHOWN) or "{}")
        if shown and condition(shown):
            return shown, True
        time.sleep(0.2)
    return shown, False


def sql(statement):
    request = urllib.request.Request(url + "/v1/sql", data=json.dumps({"sql": statement}).encode(), method="POST")
    request.add_header("Authorization", "Bearer " + token)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


report = {}
browser = Browser()
try:
    signed_out = open_page(browser, url + "/")
    report["without_token"], report["login_shown"] = wait_for(browser, signed_out, lambda s: s["login"])

    session = open_page(browser, url + "/#token=" + token)
    report["first"], report["loaded"] = wait_for(
        browser, session, lambda s: not s["login"] and "state hash" in s["node"] and s["live"] == "live" and "items" in s["tables"])

    marker = "marker-%d" % int(time.time() * 1000)
    sql("INSERT INTO items VALUES ('%s', 'Marker', 1.25, 0)" % marker)
    report["after_write"], report["updated"] = wait_for(browser, session, lambda s: marker in s["entries"])

    evaluate(browser, session, "document.getElementById('sql').value = 'SELECT sku, price FROM items ORDER BY sku'; "
                               "document.getElementById('console').requestSubmit(); true")
    report["query"], report["queried"] = wait_for(browser, session, lambda s: marker in s["result"])
    evaluate(browser, session, "document.getElementById('sql').value = \"DELETE FROM items\"; "
                               "document.getElementById('console').requestSubmit(); true")
    report["write_attempt"], report["write_refused"] = wait_for(browser, session, lambda s: "read-only" in s["result"])
    report["rows_left"] = sql("SELECT count(*) FROM items")["rows"][0][0]

    image = browser.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
    with open(screenshot, "wb") as file:
        file.write(base64.b64decode(image))
finally:
    browser.close()
print(json.dumps(report))

#!/usr/bin/env python3
"""Runs the `dlm serve` playground in headless Chromium and waits for its own checks.

Usage: scripts/check-playground.py URL [--screenshot FILE] [--timeout SECONDS]

Opens URL (the server's page, e.g. http://127.0.0.1:8080/#autorun, which runs the
default prompt on load), polls the page until <main data-check> is set (every side
done, nothing masked, text shown: the page's own checks), prints what each side shows,
and exits 0 when the checks say "ok". Drives Chromium over the DevTools protocol on a
pipe (--remote-debugging-pipe): a live page's streamed requests outlast what --dump-dom
waits for. Needs Chromium (Debian: chromium); CHROMIUM=/path overrides.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class DevTools:
    """The DevTools protocol over Chromium's pipe: JSON messages ending in NUL."""

    def __init__(self, browser, profile):
        cmd_r, cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        res_r, res_w = os.pipe()  # Chromium writes results on fd 4, we read them

        def child_fds():  # the pipe ends onto fds 3 and 4, open across exec (via high fds: no clash)
            os.dup2(cmd_r, 100)
            os.dup2(res_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--remote-debugging-pipe",
                 f"--user-data-dir={profile}", "about:blank"]
        self.proc = subprocess.Popen([browser] + flags, preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "stderr"), "w"))
        os.close(cmd_r)
        os.close(res_w)
        self.out = os.fdopen(cmd_w, "wb")
        self.inp = os.fdopen(res_r, "rb")
        self.next_id = 0
        self.buffer = b""

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        self.out.flush()
        while True:  # events come in between: skip them
            while b"\0" not in self.buffer:
                chunk = self.inp.read1(65536)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, BrokenPipeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url")
    ap.add_argument("--screenshot")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        sys.exit("check-playground: Chromium not found (sudo apt-get install chromium, or set CHROMIUM)")
    with tempfile.TemporaryDirectory() as profile:
        dt = DevTools(browser, profile)
        try:
            target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            dt.call("Emulation.setDeviceMetricsOverride",
                    {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}, session)
            dt.call("Page.navigate", {"url": args.url}, session)

            def evaluate(expr):
                r = dt.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
                return r.get("result", {}).get("value")

            start = time.time()
            check = None
            while time.time() - start < args.timeout:
                check = evaluate("document.querySelector('main') ? document.querySelector('main').dataset.check : ''")
                if check:
                    break
                time.sleep(0.2)
            sides = evaluate("JSON.stringify([...document.querySelectorAll('.side')].map(s => "
                             "[s.dataset.model, s.dataset.state, s.querySelector('.text').textContent]))")
            for model, state, text in json.loads(sides or "[]"):
                print(f"check-playground: {model} ({state}): {text}")
            if args.screenshot:
                png = dt.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
                with open(args.screenshot, "wb") as f:
                    f.write(base64.b64decode(png))
        finally:
            dt.close()
    if check != "ok":
        sys.exit(f"check-playground: FAIL: {check or f'the page did not finish within {args.timeout:g} s'}")
    print(f"check-playground: {args.url} ok ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()

"""The production shape: gunicorn with DEBUG off serves the static files (WhiteNoise),
and every page carries a Content-Security-Policy that the pages keep: no inline
script or style without the response's nonce, no style="" attributes."""

import gzip
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from evaluations.models import ExportJob

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """gunicorn on a free loopback port with the production settings, for at most a
    minute, stopped at the end. Only the project's own static files are collected
    (the admin's would take 20 s here); no request below reaches the database."""
    folder = tmp_path_factory.mktemp("production")
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    env |= {
        "DEBUG": "0",
        "SECRET_KEY": "x7Gq-production-secret-from-the-environment-4b1d9e0c2a8f6d3e5b7c9a1f",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(folder / "static"),
        "DATABASE_URL": f"sqlite:///{folder / 'unused.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-i", "admin"]
        + ["-i", "import_export"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = (folder / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["--no-control-socket"],  # its one path per user would clash with other servers
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "gunicorn.log").read_text()) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, **headers: str):
    """GET as nginx would pass it on: HTTPS already ended at the proxy."""
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https", **headers})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(request, timeout=15)
    except urllib.error.HTTPError as error:
        return error


def test_gunicorn_serves_the_static_files(production_server):
    response = fetch(production_server + "/static/css/app.css")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.read() == (ROOT / "static/css/app.css").read_bytes()
    script = fetch(production_server + "/static/js/entry.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("text/javascript")


def test_pages_link_the_hashed_names_which_are_cached_for_good(production_server):
    page = fetch(production_server + "/accounts/login/")
    assert page.status == 200
    name = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.read().decode())[1]
    hashed = fetch(production_server + name, **{"Accept-Encoding": "gzip"})
    assert hashed.status == 200
    assert "immutable" in hashed.headers["Cache-Control"]
    assert hashed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(hashed.read()) == (ROOT / "static/css/app.css").read_bytes()


def test_gunicorn_pages_carry_the_policy(production_server):
    for path, status in [("/accounts/login/", 200), ("/no-such-page/", 404)]:
        response = fetch(production_server + path)
        assert response.status == status
        assert response.headers["Content-Type"].startswith("text/html")
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert fetch(production_server + "/static/no-such-file.css").status == 404


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")
INLINE_STYLE = re.compile(r"<style[^>]*>")


def assert_keeps_the_policy(response, own_page: bool) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    page = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", policy)
    for tag in INLINE_SCRIPT.findall(page) + INLINE_STYLE.findall(page):
        assert nonce and f'nonce="{nonce[1]}"' in tag, tag
    if own_page:  # the admin's pages are Django's and the libraries'
        assert not re.search(r"\sstyle=", page), re.search(r".{80}\sstyle=.{80}", page)
        assert not re.search(r"\son[a-z]+=", page)


PAGES = [
    (None, "login", [], True),
    ("staff", "home", [], True),
    ("staff", "evaluation_table", ["sample"], True),
    ("staff", "evaluation_entry", ["sample"], False),
    ("reviewer", "review_queue", [], True),
    ("staff", "todo", [], True),
    ("reviewer", "overview", [], True),
    ("reviewer", "reporting_rate", [], True),
    ("reviewer", "extensions", [], True),
    ("manager", "exports", [], True),
    ("manager", "export_job", ["job"], True),
    ("manager", "admin:index", [], False),
    ("manager", "admin:auth_user_change", ["staff"], False),
    ("manager", "admin:evaluations_evaluation_change", ["sample"], False),
    ("manager", "admin:evaluations_unit_changelist", [], False),
    ("manager", "admin:evaluations_filingwindow_add", [], False),
    ("manager", "admin:evaluations_extension_add", [], False),
    ("manager", "admin:evaluations_reminder_changelist", [], False),
]


@pytest.mark.parametrize(("who", "name", "arguments", "own_page"), PAGES)
def test_every_page_carries_the_policy_and_keeps_it(cast, sample, who, name, arguments, own_page):
    job = ExportJob.objects.create(year=2023, requested_by=cast["manager"])
    objects = {"sample": sample, "job": job, "staff": cast["staff"]}
    client = Client()
    if who:
        client.force_login(cast[who])
    response = client.get(reverse(name, args=[objects[argument].pk for argument in arguments]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert_keeps_the_policy(response, own_page)


def test_refusals_and_missing_pages_carry_the_policy_too(cast, sample):
    client = Client()
    client.force_login(cast["other_staff"])
    missing = client.get(reverse("evaluation_table", args=[sample.pk]))
    assert missing.status_code == 404 and "Content-Security-Policy" in missing.headers
    client.force_login(cast["reviewer"])
    refused = client.get(reverse("exports"))
    assert refused.status_code in {403, 404} and "Content-Security-Policy" in refused.headers

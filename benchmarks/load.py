"""The production shape under load: 50 clients against gunicorn and PostgreSQL.

    .venv/bin/python benchmarks/load.py [--seconds 60] [--clients 50] [--workers 4] [--kill]
                                        [--alone-only]

Creates a throwaway PostgreSQL database (`jixiao_bench_<pid>` on BENCHMARK_POSTGRES,
by default postgres://postgres@127.0.0.1:5432), migrates it, loads the demo, a second
填报人 and an 80-row draft evaluation both 填报人 fill in; starts gunicorn with
`--workers` processes on a free 127.0.0.1 port (DEBUG off, as `make prod`) and two
`db_worker`s. Then, for `--seconds`, `--clients` threads logged in with their own
sessions and CSRF tokens ask for table pages (24 and 80 rows), PDFs (the demo's, which
does not change, and the 80-row one, which every save changes) and save the entry page
(each saver its own field, so every acknowledged save must be what the entry page shows
afterwards: a “lost write” when it is not). Prints requests per second, p50/p95 per
kind and the errors. With `--kill`, the same run again with one gunicorn worker and one
db_worker killed halfway (gunicorn starts a new worker). Before that, short runs of the
login page, and of each table page (as 填报人 and as 审核人, who gets the review forms),
alone, taking turns: their requests per second and their ratio to the login page's,
beside the 修改密码 page's (the plainest logged-in page: what any page behind the
login costs at least).
`--alone-only` stops there.
Everything runs on loopback, stops by itself, and the database is dropped at the end.
"""

import argparse
import contextlib
import html.parser
import http.client
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
# One database per run: two runs on one server must not drop each other's.
DATABASE = f"jixiao_bench_{os.getpid()}"
STAFF = ("pujin_staff", "Pujin-Demo-2023")
SECOND_STAFF = ("bench_staff2", "Bench-Staff-2-2023")
REVIEWER = ("minhang_reviewer", "Minhang-Review-2023")
REQUEST_TIMEOUT = 60

SETUP = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from evaluations.models import Evaluation, Unit
from evaluations.roles import ROLE_STAFF
from tests.conftest import make_evaluation, synthetic_data
sample = Evaluation.objects.get(unit__code="310112-PJ-CSYX", year=2023, kind="overall")
user = get_user_model().objects.create_user(username="{SECOND_STAFF[0]}", password="{SECOND_STAFF[1]}")
user.groups.add(Group.objects.get(name=ROLE_STAFF))
sample.unit.staff.add(user)
unit = Unit.objects.create(code="310112-BENCH", name="压力测试八十行单位", district=sample.unit.district)
unit.staff.add(user, get_user_model().objects.get(username="{STAFF[0]}"))
tall = make_evaluation(unit, data=synthetic_data(80))
print(sample.pk, tall.pk)
"""


# ---------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def admin_connection(server: str):
    import psycopg

    return psycopg.connect(f"{server}/postgres", autocommit=True)


def drop_database(server: str) -> None:
    with admin_connection(server) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def prepare(server: str, environment: dict) -> tuple[int, int]:
    drop_database(server)
    with admin_connection(server) as connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")
    manage = [PYTHON, str(ROOT / "manage.py")]
    quiet = {"env": environment, "cwd": ROOT, "check": True, "stdout": subprocess.DEVNULL}
    subprocess.run([*manage, "migrate", "--no-input"], **quiet)
    subprocess.run([*manage, "collectstatic", "--no-input"], **quiet)
    subprocess.run([*manage, "load_demo"], **quiet)
    finished = subprocess.run(
        [*manage, "shell", "-c", SETUP], env=environment, cwd=ROOT, capture_output=True, text=True
    )
    if finished.returncode:
        raise SystemExit(f"setting up the benchmark's data failed:\n{finished.stderr}")
    output = finished.stdout
    sample, tall = (int(value) for value in output.split()[-2:])
    return sample, tall


class Server:
    """gunicorn and two db_workers, started and ended by this script."""

    def __init__(self, environment: dict, workers: int):
        self.port = free_port()
        self.web = subprocess.Popen(
            [
                GUNICORN,
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "30",
                "--no-control-socket",
            ],
            env=environment,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        manage = [PYTHON, str(ROOT / "manage.py"), "db_worker", "--no-reload"]
        self.task_workers = [
            subprocess.Popen(manage, env=environment, cwd=ROOT, stderr=subprocess.DEVNULL)
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if request("GET", self.port, "/accounts/login/").status == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not answer within 60 s")

    def web_workers(self) -> list[int]:
        children = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def kill_one_of_each(self) -> str:
        worker = self.web_workers()[0]
        os.kill(worker, signal.SIGKILL)
        self.task_workers[0].kill()
        return f"killed gunicorn worker {worker} and db_worker {self.task_workers[0].pid}"

    def stop(self) -> None:
        for process in [self.web, *self.task_workers]:
            if process.poll() is None:
                process.terminate()
        for process in [self.web, *self.task_workers]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---------------------------------------------------------------------------
# A client


class Response:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(method, port, path, body=None, cookies=None, headers=None) -> Response:
    # gunicorn's sync workers close the connection after every response.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        sent = dict(headers or {})
        if cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        if body is not None:
            body = urllib.parse.urlencode(body, doseq=True)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        content = answer.read()
        if cookies is not None:
            for name, value in answer.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    cookies[key] = rest.split(";", 1)[0]
        return Response(answer.status, dict(answer.getheaders()), content)
    finally:
        connection.close()


class FormReader(html.parser.HTMLParser):
    """The fields of the page's forms as a browser would post them (no submit button;
    nothing inside a <template>, the rows the page's script may add)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields: list[list[str]] = []
        self.in_template = 0
        self.textarea: list[str] | None = None
        self.select: str | None = None

    def handle_starttag(self, tag, attributes):
        if tag == "template":
            self.in_template += 1
        if self.in_template:
            return
        attributes = dict(attributes)
        name = attributes.get("name")
        if tag == "input" and name and attributes.get("type") not in ("submit", "button", "file"):
            if attributes.get("type") in ("checkbox", "radio") and "checked" not in attributes:
                return
            self.fields.append([name, attributes.get("value") or ""])
        elif tag == "textarea" and name:
            self.textarea = [name, ""]
            self.fields.append(self.textarea)
        elif tag == "select" and name:
            self.select = name
        elif tag == "option" and self.select and "selected" in attributes:
            self.fields.append([self.select, attributes.get("value") or ""])

    def handle_endtag(self, tag):
        if tag == "template":
            self.in_template -= 1
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data


def form_fields(page: str) -> list[list[str]]:
    reader = FormReader()
    reader.feed(page)
    return reader.fields


class Client:
    def __init__(self, port: int, credentials: tuple[str, str]):
        self.port = port
        self.cookies: dict[str, str] = {}
        page = self.get("/accounts/login/")
        token = dict(form_fields(page.text))["csrfmiddlewaretoken"]
        answer = self.post(
            "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": credentials[0], "password": credentials[1]},
        )
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"login of {credentials[0]} failed: {answer.status}")

    def get(self, path: str) -> Response:
        return request("GET", self.port, path, cookies=self.cookies)

    def post(self, path: str, data) -> Response:
        origin = f"http://127.0.0.1:{self.port}"
        headers = {"Referer": origin + path, "Origin": origin}
        return request("POST", self.port, path, body=data, cookies=self.cookies, headers=headers)


# ---------------------------------------------------------------------------
# The run


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.cut: dict[str, int] = defaultdict(int)  # connections lost (a killed worker)
        self.conflicts = 0  # saves refused because the other staff saved first (409)
        self.first_error: list[str] = []

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.times[kind].append(seconds)

    def fail(self, kind: str, message: str, cut: bool = False) -> None:
        with self.lock:
            (self.cut if cut else self.errors)[kind] += 1
            if not cut and len(self.first_error) < 5:
                self.first_error.append(f"{kind}: {message}")


class Saver:
    """Saves one field of the entry page again and again, as one 填报人; remembers the
    last value acknowledged and those whose answer was lost with a connection."""

    def __init__(self, client: Client, evaluation: int, field: str | int, label: str):
        self.client, self.evaluation, self.field, self.label = client, evaluation, field, label
        self.acknowledged: str | None = None
        self.unknown: set[str] = set()
        self.count = 0

    def url(self) -> str:
        return f"/evaluations/{self.evaluation}/entry/"

    def field_name(self, fields: list[list[str]]) -> str:
        """The field itself, or for an integer the name field of that 三级 row."""
        if isinstance(self.field, str):
            return self.field
        names = [
            name for name, _ in fields if name.startswith("indicator-") and name.endswith("-name")
        ]
        return names[self.field]

    def save(self, record: Record) -> None:
        started = time.perf_counter()
        page = self.client.get(self.url())
        record.add("entry page", time.perf_counter() - started)
        if page.status != 200:
            record.fail("entry page", f"status {page.status}")
            return
        fields = form_fields(page.text)
        name = self.field_name(fields)
        self.count += 1
        value = f"{self.label}第{self.count}次保存{secrets.token_hex(3)}"
        data = [(key, value if key == name else old) for key, old in fields]
        data.append(("action", "save"))
        started = time.perf_counter()
        try:
            answer = self.client.post(self.url(), data)
        except OSError:
            self.unknown.add(value)
            raise
        record.add("save", time.perf_counter() - started)
        if answer.status == 302:
            self.acknowledged = value
        elif answer.status == 409:
            with record.lock:
                record.conflicts += 1
        else:
            record.fail("save", f"status {answer.status}")

    def shown(self) -> str:
        fields = form_fields(self.client.get(self.url()).text)
        return dict((key, value) for key, value in fields)[self.field_name(fields)]


def worker_loop(task, kind: str, record: Record, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            answer = task()
        except (OSError, http.client.HTTPException) as error:
            record.fail(kind, repr(error), cut=True)
            time.sleep(0.2)
            continue
        if answer is None:  # a saver records itself
            continue
        if answer.status != 200:
            record.fail(kind, f"status {answer.status}")
        elif kind.startswith("pdf") and not answer.body.startswith(b"%PDF-"):
            record.fail(kind, "not a PDF")
        else:
            record.add(kind, time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_mix(port, clients, sample, tall, seconds, record, savers, kill=None) -> float:
    """`clients` threads: 4 savers, and the rest on table pages and PDFs."""
    logins = [Client(port, credentials) for credentials in (STAFF, SECOND_STAFF, REVIEWER)]
    readers = clients - len(savers)
    kinds = []
    for index in range(readers):
        client = logins[index % len(logins)]
        if index < 2:
            kinds.append(
                ("pdf, edited (80 rows)", lambda c=client: c.get(f"/evaluations/{tall}/pdf/"))
            )
        elif index < readers // 4 + 2:
            kinds.append(("pdf, unchanged", lambda c=client: c.get(f"/evaluations/{sample}/pdf/")))
        elif index % 2:
            kinds.append(("table page, 24 rows", lambda c=client: c.get(f"/evaluations/{sample}/")))
        else:
            kinds.append(("table page, 80 rows", lambda c=client: c.get(f"/evaluations/{tall}/")))
    for saver in savers:
        kinds.append(("save", lambda s=saver: s.save(record)))
    random.shuffle(kinds)
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=worker_loop, args=(task, kind, record, stop_at), daemon=True)
        for kind, task in kinds
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    if kill:
        time.sleep(seconds / 2)
        print(f"  {kill()} at {seconds / 2:.0f} s")
    for thread in threads:
        thread.join(timeout=seconds + REQUEST_TIMEOUT + 10)
    return time.monotonic() - started


def report(title: str, record: Record, elapsed: float, savers: list[Saver]) -> None:
    total = sum(len(values) for values in record.times.values())
    print(f"\n{title}: {total} requests answered in {elapsed:.1f} s = {total / elapsed:.1f} req/s")
    print(f"  {'kind':24s} {'count':>6s} {'req/s':>7s} {'p50 s':>7s} {'p95 s':>7s}")
    for kind, values in sorted(record.times.items()):
        print(
            f"  {kind:24s} {len(values):6d} {len(values) / elapsed:7.1f} "
            f"{statistics.median(values):7.3f} {percentile(values, 0.95):7.3f}"
        )
    errors = sum(record.errors.values())
    cut = sum(record.cut.values())
    print(f"  errors (unexpected answers): {errors} {dict(record.errors) or ''}")
    for line in record.first_error:
        print(f"    {line}")
    print(f"  connections cut (by a killed worker): {cut} {dict(record.cut) or ''}")
    print(f"  saves refused as stale (the other 填报人 saved first, 409): {record.conflicts}")
    lost = 0
    for saver in savers:
        shown = saver.shown()
        if saver.acknowledged is not None and shown != saver.acknowledged:
            if shown in saver.unknown:
                print(f"  {saver.label}: shows a save whose answer was cut (committed, not lost)")
            else:
                lost += 1
                print(f"  LOST: {saver.label} acknowledged {saver.acknowledged!r}, shows {shown!r}")
    acknowledged = sum(saver.acknowledged is not None for saver in savers)
    print(
        f"  lost writes: {lost} (of {len(savers)} fields, {acknowledged} with a save acknowledged)"
    )


def alone(make_request, seconds: float, threads: int) -> tuple[int, float]:
    """Requests answered (200) of one page alone, and the seconds it took."""
    counts = [0] * threads
    stop_at = time.monotonic() + seconds

    def loop(index):
        while time.monotonic() < stop_at:
            if make_request().status == 200:
                counts[index] += 1

    workers = [threading.Thread(target=loop, args=(index,)) for index in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts), time.monotonic() - started


def alone_by_turns(pages: dict, seconds: float, threads: int, turns: int = 5) -> dict:
    """Requests per second of each page alone, the pages taking turns (`turns` slices of
    `seconds / turns` each), so that the machine's other work, which varies from one
    minute to the next, weighs on each page alike."""
    answered = dict.fromkeys(pages, 0)
    elapsed = dict.fromkeys(pages, 0.0)
    for _ in range(turns):
        for label, make_request in pages.items():
            count, spent = alone(make_request, seconds / turns, threads)
            answered[label] += count
            elapsed[label] += spent
    return {label: answered[label] / elapsed[label] for label in pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of each mixed run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn processes")
    parser.add_argument("--ratio-seconds", type=float, default=10, help="each page alone")
    parser.add_argument("--kill", action="store_true", help="also a run with workers killed")
    parser.add_argument("--alone-only", action="store_true", help="only the pages alone")
    arguments = parser.parse_args()
    arguments.seconds = min(arguments.seconds, 600)
    arguments.clients = max(5, min(arguments.clients, 200))

    server_url = os.environ.get("BENCHMARK_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    workdir = Path(tempfile.mkdtemp(prefix="load-benchmark-"))
    environment = {
        **os.environ,
        "DATABASE_URL": f"{server_url}/{DATABASE}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DEMO_DATA_ALLOWED": "1",
        "STATIC_ROOT": str(workdir / "static"),
        "EXPORT_ROOT": str(workdir / "exports"),
        "AXES_FAILURE_LIMIT": "1000",
    }
    server = None
    try:
        sample, tall = prepare(server_url, environment)
        server = Server(environment, arguments.workers)
        port = server.port
        print(
            f"gunicorn {arguments.workers} workers on 127.0.0.1:{port}, PostgreSQL "
            f"{DATABASE}, 2 db_workers; {os.cpu_count()} CPUs"
        )

        staff, reviewer = Client(port, STAFF), Client(port, REVIEWER)
        staff.get(f"/evaluations/{sample}/pdf/")  # the unchanged form's PDF, drawn once
        threads = 8
        pages = {
            "login page": lambda: request("GET", port, "/accounts/login/"),
            # The plainest page behind the login (session, user, top bar): the floor
            # of every logged-in page.
            "修改密码 page, 填报人": lambda: staff.get("/accounts/password/"),
        }
        for who, client in (("填报人", staff), ("审核人", reviewer)):
            for rows, evaluation in (("24", sample), ("80", tall)):
                pages[f"table page, {rows} rows, {who}"] = lambda c=client, e=evaluation: c.get(
                    f"/evaluations/{e}/"
                )
        rates = alone_by_turns(pages, arguments.ratio_seconds, threads)
        print(f"\nalone, {threads} clients, {arguments.ratio_seconds:g} s each, in 5 turns:")
        login = rates.pop("login page")
        print(f"  {'login page':24s}   {login:7.1f} req/s")
        for label, rate in rates.items():
            print(f"  {label:24s}   {rate:7.1f} req/s = {rate / login:.2f} × login")
        if arguments.alone_only:
            return

        runs = [("mixed run", None)]
        if arguments.kill:
            runs.append(("mixed run, one gunicorn worker and one db_worker killed", server))
        for title, killing in runs:
            first, second = Client(port, STAFF), Client(port, SECOND_STAFF)
            savers = [
                Saver(first, tall, "target_text", f"{STAFF[0]}·年初设定目标"),
                Saver(first, tall, 0, f"{STAFF[0]}·第1行三级指标"),
                Saver(second, tall, 1, f"{SECOND_STAFF[0]}·第2行三级指标"),
                Saver(second, tall, 2, f"{SECOND_STAFF[0]}·第3行三级指标"),
            ]
            record = Record()
            print(f"\n{title}: {arguments.clients} clients for {arguments.seconds:g} s …")
            elapsed = run_mix(
                port,
                arguments.clients,
                sample,
                tall,
                arguments.seconds,
                record,
                savers,
                kill=killing.kill_one_of_each if killing else None,
            )
            report(title, record, elapsed, savers)
    finally:
        if server:
            server.stop()
        drop_database(server_url)
        print(f"\ndatabase {DATABASE} dropped")


if __name__ == "__main__":
    main()

"""HMS benchmark: the release build of the API handler (served by hms-local,
the same handler the Lambda runs) against moto and the local S3 on 127.0.0.1.

Measures cold start, peak RSS, per-route latency percentiles and the AWS calls
each route makes (from the server's own call-counting log lines), and writes
BENCHMARKS.md. Timings are only compared within one run.

Usage: ./setup.sh bench [--quick]
"""

import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv/bin/python"
S3S = Path(os.environ.get("HMS_LOCAL_S3", ROOT / "target/debug/hms-local-s3"))
# Release builds go to a target folder shared by every clone on this machine
# (setup.sh sets CARGO_TARGET_DIR), so a fresh clone reuses compiled crates.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
# HMS_BENCH_SERVER: measure a given build instead (e.g. another profile).
SERVER = Path(os.environ.get("HMS_BENCH_SERVER", TARGET / "release/hms-local"))
# HMS_BENCH_BASELINE: an earlier build whose read routes are timed against
# this one's in the same run (same emulators, same table, interleaved).
BASELINE = os.environ.get("HMS_BENCH_BASELINE")
QUICK = "--quick" in sys.argv
SAMPLES = 60 if QUICK else 300
COLD_RUNS = 5 if QUICK else 9
FLOOR_SAMPLES = 30 if QUICK else 60
KEY, SECRET = "hmsbench", "hmsbenchsecret"
# A JPEG's first bytes, then filler: uploads are held to their type.
PHOTO = b"\xff\xd8\xff\xe0" + b"x" * 508
# Entries of one patient at which attach and the documents read are timed.
SCALE_SIZES = [10, 100, 1000] if QUICK else [10, 1000, 10000]
SCALE_SAMPLES = 10 if QUICK else 20
CONCURRENT_ATTACHES = 30

# The earlier Node.js backend on this machine class, against moto.
NODE = {
    "cold_ms": 269.0,
    "rss_mib": 120.0,
    "GET /patients/{uid}": 5.0,
    "GET /patients/{id}/documents": 9.8,
    "POST /patients/{id}/files/presign-upload": 5.4,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listening on {port}")


class Client:
    """Keep-alive HTTP client; returns (status, json, elapsed ms)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.sent = 0

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data else {}
        self.sent += 1
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        elapsed = (time.perf_counter() - start) * 1000
        parsed = json.loads(raw) if raw else None
        return resp.status, parsed, elapsed


def put_presigned(answer, content):
    """PUT bytes to a presigned URL with the headers it requires."""
    url = answer["uploadUrl"]
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=30)
    conn.request("PUT", "/" + path, body=content, headers=answer["headers"])
    status = conn.getresponse().status
    conn.close()
    return status


class Server:
    def __init__(self, env, port, log_path):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(SERVER), "--addr", f"127.0.0.1:{port}"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def vm_hwm_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def main():
    t_start = time.time()
    if not VENV_PY.exists() or not S3S.exists():
        raise SystemExit("run ./setup.sh bench (it installs moto and builds the local S3)")
    # One binary: each release binary gets its own whole-program (LTO) pass.
    build_cmd = ["cargo", "build", "--release", "--quiet", "--bin", "hms-local"]
    build_s = None
    if "HMS_BENCH_SERVER" not in os.environ:
        print("building:", " ".join(build_cmd), "in", TARGET, flush=True)
        t_build = time.time()
        subprocess.run(build_cmd, cwd=ROOT, check=True)
        build_s = time.time() - t_build

    work = Path(tempfile.mkdtemp(prefix="hms-bench-"))
    ddb_port, s3_port = free_port(), free_port()
    emulators = [
        subprocess.Popen([str(VENV_PY), str(ROOT / "tests/emulator/moto_serial.py"), "--port", str(ddb_port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([str(S3S), "--host", "127.0.0.1", "--port", str(s3_port), "--access-key", KEY,
                          "--secret-key", SECRET, "--data", str(work / "s3")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    (work / "s3").mkdir(exist_ok=True)
    try:
        wait_port(ddb_port)
        wait_port(s3_port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{ddb_port}",
            "AWS_ENDPOINT_URL_CLOUDFRONT": f"http://127.0.0.1:{ddb_port}",
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{s3_port}",
            "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
            "TABLE_NAME": "HMS", "FILES_BUCKET": "hms-bench",
            "AWS_LAMBDA_LOG_FORMAT": "JSON", "RUST_LOG": "info",
        })
        report = run(env, work)
    finally:
        for p in emulators:
            p.terminate()
        for p in emulators:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = time.time() - t_start
    report["build_s"] = build_s
    write_report(report)


def log_lines(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    lines = []
    for raw in data.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if entry.get("message") == "request":
            lines.append(entry)
    return lines, offset + len(data)


def run(env, work):
    port = free_port()
    log = work / "server.log"
    # Provision the table and bucket once (not timed).
    prov = subprocess.Popen([str(SERVER), "--provision", "--addr", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    c = Client(port)
    status, body, _ = c.call("POST", "/patients", {"name": "Bench Patient", "registration": {
        "mrn": "BENCH-0", "scheme": "GENERAL", "department": "Bench"}})
    assert status == 201, body
    uid = body["patientId"]
    prov.send_signal(signal.SIGTERM)
    prov.wait(timeout=10)

    # Cold start: exec of the server -> first 200 of GET /patients/{uid}; and,
    # to show what the emulator adds, -> first 200 of GET /health (no AWS call).
    def cold_start(path, server_env=env, headers=None):
        port = free_port()
        t0 = time.perf_counter()
        server = Server(server_env, port, log)
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", path, headers=headers or {})
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.0005)
        elapsed = (time.perf_counter() - t0) * 1000
        server.stop()
        return elapsed

    cold = [cold_start(f"/patients/{uid}") for _ in range(COLD_RUNS)]
    cold_health = [cold_start("/health") for _ in range(COLD_RUNS)]
    # The same with X-Ray on: a daemon to send to, and a sampled first request
    # (its calls become subsegments, the socket is opened for them).
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.setblocking(False)
    traced_env = dict(env, AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}")
    sampled = {"x-amzn-trace-id": "Root=1-6929be00-43cfa122e6205cfbaa3e09d3;Parent=53995c3f42cd8ad8;Sampled=1"}
    cold_traced = []
    subsegments = 0
    for i in range(COLD_RUNS):
        # Interleaved with untraced starts, so drift hits both alike.
        cold_traced.append(cold_start(f"/patients/{uid}", traced_env, sampled))
        cold.append(cold_start(f"/patients/{uid}"))
        while True:
            try:
                daemon.recv(65536)
                subsegments += 1
            except BlockingIOError:
                break
    daemon.close()

    port = free_port()
    server = Server(env, port, log)
    wait_port(port)
    c = Client(port)
    offset = Path(log).stat().st_size
    calls = {}

    def traced(label, method, path, body=None, expect=None):
        nonlocal offset
        status, data, _ = c.call(method, path, body)
        lines, offset = log_lines(log, offset)
        entry = lines[-1] if lines else {}
        calls[label] = (status, entry.get("aws_calls", ""), entry.get("route", ""))
        if expect is not None and status != expect:
            print(f"warning: {label} answered {status}: {data}", flush=True)
        return status, data

    # Seed data and trace the calls of every route once.
    dept = f"Bench-{uuid.uuid4().hex[:6]}"
    mrn = f"BENCH-{uuid.uuid4().hex[:8]}"
    _, created = traced("POST /patients", "POST", "/patients", {"name": "B", "registration": {
        "mrn": mrn, "scheme": "GENERAL", "department": dept}}, 201)
    pid = created["patientId"]
    traced("GET /patients/{uid}", "GET", f"/patients/{pid}", expect=200)
    traced("GET /patients/{mrn}", "GET", f"/patients/{mrn}", expect=200)
    traced("GET /patients/by-mrn/{mrn}", "GET", f"/patients/by-mrn/{mrn}", expect=200)
    traced("GET /patients?department=", "GET", f"/patients?department={dept}", expect=200)
    traced("GET /patients (all active)", "GET", "/patients?limit=50", expect=200)
    traced("GET /patients?mrn=", "GET", f"/patients?mrn={mrn}", expect=200)
    traced("PUT /patients/{uid}", "PUT", f"/patients/{pid}", {"diagnosis": "bench"}, 200)
    traced("PATCH /patients/{uid}/state", "PATCH", f"/patients/{pid}/state", {"currentState": "preop"}, 200)
    traced("PATCH /patients/{mrn}/state", "PATCH", f"/patients/{mrn}/state", {"currentState": "intraop"}, 200)
    traced("PUT /patients/{uid} with currentState", "PUT", f"/patients/{pid}", {"currentState": "postop"}, 200)
    new_mrn = f"BENCH-{uuid.uuid4().hex[:8]}"
    traced("PATCH /patients/{uid}/registration", "PATCH", f"/patients/{pid}/registration",
           {"mrn": new_mrn, "scheme": "CGHS"}, 200)
    traced("PATCH /patients/{uid}/mrn-history", "PATCH", f"/patients/{pid}/mrn-history",
           {"mrnHistory": [{"mrn": mrn, "scheme": "GENERAL"}, {"mrn": new_mrn, "scheme": "CGHS"}]}, 200)
    traced("PATCH /patients/{uid}/mrn-overwrite", "PATCH", f"/patients/{pid}/mrn-overwrite",
           {"mrnHistory": [{"mrn": mrn, "scheme": "GENERAL", "date": "2030-01-01T00:00:00Z"},
                           {"mrn": new_mrn, "scheme": "CGHS", "date": "2020-01-01T00:00:00Z"}]}, 200)
    traced("GET /patients/{uid}/timeline", "GET", f"/patients/{pid}/timeline", expect=200)
    traced("PUT /checklists/{from}/{to}", "PUT", "/checklists/bench-a/bench-b", {"inRequired": ["x"]}, 200)
    traced("GET /checklists", "GET", "/checklists", expect=200)
    traced("GET /checklists/{from}/{to}", "GET", "/checklists/bench-a/bench-b", expect=200)
    traced("DELETE /checklists/{from}/{to}", "DELETE", "/checklists/bench-a/bench-b", expect=200)
    traced("GET /patients/{uid}/documents (no record)", "GET", f"/patients/{pid}/documents", expect=200)
    traced("POST /patients/{uid}/documents/init", "POST", f"/patients/{pid}/documents/init", {}, 201)
    traced("GET /patients/{uid}/documents", "GET", f"/patients/{pid}/documents", expect=200)
    traced("GET /patients/{mrn}/documents", "GET", f"/patients/{mrn}/documents", expect=200)
    _, presign = traced("POST /patients/{uid}/files/presign-upload", "POST", f"/patients/{pid}/files/presign-upload",
                        {"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"}, 200)
    traced("POST /patients/{mrn}/files/presign-upload", "POST", f"/patients/{mrn}/files/presign-upload",
           {"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"}, 200)
    assert put_presigned(presign, PHOTO) == 200
    key = presign["key"]
    traced("POST /patients/{uid}/documents/attach", "POST", f"/patients/{pid}/documents/attach",
           {"category": "lab_reports", "key": key}, 200)
    traced("POST /patients/{uid}/documents/attach (already attached)", "POST", f"/patients/{pid}/documents/attach",
           {"category": "lab_reports", "key": key}, 200)
    traced("GET /patients/{uid}/files", "GET", f"/patients/{pid}/files", expect=200)
    traced("GET /patients/{uid}/files?presign=1", "GET", f"/patients/{pid}/files?presign=1", expect=200)
    traced("POST /patients/{uid}/files/presign-download", "POST", f"/patients/{pid}/files/presign-download",
           {"key": key}, 200)
    traced("POST /patients/{uid}/documents/detach", "POST", f"/patients/{pid}/documents/detach",
           {"category": "lab_reports", "key": key}, 200)
    traced("POST /patients/{uid}/files/delete", "POST", f"/patients/{pid}/files/delete", {"key": key}, 200)

    _, note = traced("POST /patients/{uid}/notes", "POST", f"/patients/{pid}/notes",
                     {"authorId": "d1", "category": "doctorNote", "content": "bench"}, 201)
    note_id = (note or {}).get("note", {}).get("noteId", "missing")
    traced("GET /patients/{uid}/notes", "GET", f"/patients/{pid}/notes", expect=200)
    traced("PATCH /patients/{uid}/notes/{noteId}", "PATCH", f"/patients/{pid}/notes/{note_id}", {"content": "b2"}, 200)
    _, med = traced("POST /patients/{uid}/meds", "POST", f"/patients/{pid}/meds",
                    {"name": "m", "dose": "1", "route": "PO", "freq": "od", "start": "2026-01-01T00:00:00Z"}, 201)
    med_id = (med or {}).get("med", {}).get("medId", "missing")
    traced("GET /patients/{uid}/meds", "GET", f"/patients/{pid}/meds?active=1", expect=200)
    traced("PATCH /patients/{uid}/meds/{medId}", "PATCH", f"/patients/{pid}/meds/{med_id}", {"dose": "2"}, 200)
    traced("DELETE /patients/{uid}/meds/{medId}", "DELETE", f"/patients/{pid}/meds/{med_id}", expect=200)
    _, task = traced("POST /patients/{uid}/tasks", "POST", f"/patients/{pid}/tasks",
                     {"title": "t", "type": "lab", "due": "2026-12-01T00:00:00Z", "assigneeId": "d1"}, 201)
    task_id = (task or {}).get("task", {}).get("taskId", "missing")
    traced("GET /patients/{uid}/tasks", "GET", f"/patients/{pid}/tasks", expect=200)
    traced("PATCH /patients/{uid}/tasks/{taskId}", "PATCH", f"/patients/{pid}/tasks/{task_id}", {"status": "in-progress"}, 200)
    traced("GET /tasks?department=", "GET", f"/tasks?department={dept}&status=in-progress", expect=200)
    for kind, ref, folder in (("note", note_id, "notes"), ("med", med_id, "meds"), ("task", task_id, "tasks")):
        _, up = traced(f"POST presign-upload ({kind})", "POST", f"/patients/{pid}/files/presign-upload",
                       {"filename": "x.pdf", "mimeType": "application/pdf", "kind": kind, "refId": ref}, 200)
        if up:
            put_presigned(up, b"%PDF-1.4 bench")
            traced(f"POST /patients/{{uid}}/{folder}/{{id}}/files/attach", "POST",
                   f"/patients/{pid}/{folder}/{ref}/files/attach", {"key": up["key"]}, 200)
            traced(f"POST /patients/{{uid}}/{folder}/{{id}}/files/detach", "POST",
                   f"/patients/{pid}/{folder}/{ref}/files/detach", {"key": up["key"]}, 200)
    traced("DELETE /patients/{uid}/tasks/{taskId}", "DELETE", f"/patients/{pid}/tasks/{task_id}", expect=200)
    traced("DELETE /patients/{uid}/notes/{noteId}", "DELETE", f"/patients/{pid}/notes/{note_id}", expect=200)
    doc_id = f"bench-{uuid.uuid4().hex[:8]}"
    traced("POST /doctors", "POST", "/doctors", {"userId": doc_id, "name": "Dr B", "email": "b@example.org",
                                                 "department": dept}, 201)
    traced("GET /doctors?department=", "GET", f"/doctors?department={dept}", expect=200)
    traced("GET /doctors/{doctorId}", "GET", f"/doctors/{doc_id}", expect=200)
    traced("PATCH /doctors/{doctorId}", "PATCH", f"/doctors/{doc_id}", {"department": dept + "-2"}, 200)
    traced("DELETE /doctors/{doctorId}", "DELETE", f"/doctors/{doc_id}", expect=200)
    traced("DELETE /patients/{uid}", "DELETE", f"/patients/{pid}", expect=200)
    traced("GET /health", "GET", "/health", expect=200)

    # Latency: warm-up, then SAMPLES sequential requests per route.
    print("measuring latency", flush=True)
    status, created, _ = c.call("POST", "/patients", {"name": "L", "registration": {
        "mrn": f"BENCH-{uuid.uuid4().hex[:8]}", "scheme": "GENERAL", "department": dept}})
    lat_uid, lat_mrn = created["patientId"], created["latestMrn"]
    for i in range(20):
        c.call("POST", f"/patients/{lat_uid}/notes", {"authorId": "d1", "category": "nurseNote", "content": f"n{i}"})
        c.call("POST", f"/patients/{lat_uid}/tasks", {"title": f"t{i}", "type": "lab",
                                                       "due": "2026-12-01T00:00:00Z", "assigneeId": "d1"})
    routes = [
        ("GET /health (no AWS call)", lambda: ("GET", "/health", None)),
        ("GET /patients/{uid}", lambda: ("GET", f"/patients/{lat_uid}", None)),
        ("GET /patients/{mrn}", lambda: ("GET", f"/patients/{lat_mrn}", None)),
        ("GET /patients/{id}/documents", lambda: ("GET", f"/patients/{lat_uid}/documents", None)),
        ("GET /patients/{id}/notes", lambda: ("GET", f"/patients/{lat_uid}/notes", None)),
        ("GET /tasks?department=", lambda: ("GET", f"/tasks?department={dept}", None)),
        ("POST /patients/{id}/documents/attach", None),
        ("POST /patients/{id}/files/presign-upload", lambda: ("POST", f"/patients/{lat_uid}/files/presign-upload",
                                                              {"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"})),
    ]
    # The DynamoDB call each route makes, sent straight to the emulator right
    # after the route's samples (same table, same size): the emulator's share.
    bare = Bare(env["AWS_ENDPOINT_URL_DYNAMODB"], env["TABLE_NAME"])
    floors = {
        "GET /patients/{uid}": ("BatchGetItem", lambda: bare.patient(lat_uid)),
        "GET /patients/{id}/notes": ("Query", lambda: bare.notes(lat_uid)),
        "GET /tasks?department=": ("Query on an index", lambda: bare.tasks(dept)),
        "POST /patients/{id}/documents/attach": ("TransactWriteItems", bare.transaction),
    }
    latency, emulator = {}, {}
    for name, make in routes:
        if make is None:
            make = attach_requests(c, dept)
        warm = 20 if name != "POST /patients/{id}/documents/attach" else 10
        for _ in range(warm):
            c.call(*make())
        samples, bad = [], 0
        for _ in range(SAMPLES):
            status, _, ms = c.call(*make())
            bad += status >= 400
            samples.append(ms)
        latency[name] = {"p50": percentile(samples, 50), "p90": percentile(samples, 90),
                         "p99": percentile(samples, 99), "n": len(samples), "errors": bad}
        if name in floors:
            operation, call = floors[name]
            emulator[name] = dict(timed(call, FLOOR_SAMPLES), operation=operation)
    requests_served = c.sent
    rss_kib = server.vm_hwm_kib()

    print("measuring documents at scale", flush=True)
    scale = {}
    status, created, _ = c.call("POST", "/patients", {"name": "S", "registration": {
        "mrn": f"BENCH-{uuid.uuid4().hex[:8]}", "scheme": "GENERAL", "department": dept}})
    s_uid = created["patientId"]

    def upload(client, uid):
        _, up, _ = client.call("POST", f"/patients/{uid}/files/presign-upload",
                               {"filename": "s.jpg", "mimeType": "image/jpeg", "docType": "lab"})
        assert put_presigned(up, PHOTO) == 200
        return up["key"]

    def attach(client, uid, key):
        return client.call("POST", f"/patients/{uid}/documents/attach", {"category": "lab_reports", "key": key})

    have, server_errors = 0, 0
    for size in SCALE_SIZES:
        while have < size - SCALE_SAMPLES:
            st, _, _ = attach(c, s_uid, upload(c, s_uid))
            server_errors += st >= 500
            have += 1
        times, seen_calls = [], ""
        for _ in range(SCALE_SAMPLES):
            key = upload(c, s_uid)
            _, offset = log_lines(log, offset)
            st, _, ms = attach(c, s_uid, key)
            server_errors += st >= 500
            have += 1
            lines, offset = log_lines(log, offset)
            seen_calls = lines[-1].get("aws_calls", "") if lines else ""
            times.append(ms)
        gets = []
        for _ in range(SCALE_SAMPLES):
            st, body, ms = c.call("GET", f"/patients/{s_uid}/documents")
            server_errors += st >= 500
            gets.append(ms)
        listed = len(body.get("labReports", [])) if isinstance(body, dict) else 0
        counted = body.get("counts", {}).get("labReports") if isinstance(body, dict) else None
        scale[size] = {"attach_p50": statistics.median(times), "get_p50": statistics.median(gets),
                       "calls": seen_calls, "listed": listed, "counted": counted}
    # Distinct uploaded keys attached at once to one patient.
    status, created, _ = c.call("POST", "/patients", {"name": "C", "registration": {
        "mrn": f"BENCH-{uuid.uuid4().hex[:8]}", "scheme": "GENERAL", "department": dept}})
    c_uid = created["patientId"]
    keys = [upload(c, c_uid) for _ in range(CONCURRENT_ATTACHES)]
    statuses = []

    def one(key):
        statuses.append(attach(Client(port), c_uid, key)[0])

    threads = [threading.Thread(target=one, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, docs, _ = c.call("GET", f"/patients/{c_uid}/documents")
    present = len(set(e["key"] for e in docs.get("labReports", [])) & set(keys))
    concurrent = {"ok": statuses.count(200), "conflict": statuses.count(409),
                  "server_error": sum(s >= 500 for s in statuses), "present": present}
    server.stop()

    against = compare_reads(env, work, lat_uid, lat_mrn) if BASELINE else None
    stock = stock_moto_floor(lat_uid)
    sizes = {SERVER.name: SERVER.stat().st_size}
    return {"cold": cold, "cold_health": cold_health, "cold_traced": cold_traced,
            "subsegments": subsegments, "emulator": emulator, "stock_moto": stock,
            "latency": latency, "calls": calls, "rss_kib": rss_kib,
            "scale": scale, "scale_errors": server_errors, "concurrent": concurrent,
            "requests": requests_served, "sizes": sizes, "against": against}


def read_routes(uid, mrn):
    return [
        ("GET /patients/{uid}", f"/patients/{uid}"),
        ("GET /patients/{mrn}", f"/patients/{mrn}"),
        ("GET /patients/{id}/documents", f"/patients/{uid}/documents"),
        ("GET /patients/{id}/notes", f"/patients/{uid}/notes"),
        ("GET /patients/{id}/meds", f"/patients/{uid}/meds"),
        ("GET /patients/{id}/tasks", f"/patients/{uid}/tasks"),
        ("GET /patients/{id}/timeline", f"/patients/{uid}/timeline"),
    ]


def compare_reads(env, work, uid, mrn):
    """The read routes on this build and on BASELINE, both serving the same
    emulators and table at once, measured in alternating rounds so that
    drift of the machine or the growing table hits both alike."""
    print(f"timing read routes against {BASELINE}", flush=True)
    builds = {}
    for name, binary in (("this build", SERVER), ("baseline", Path(BASELINE))):
        port, log = free_port(), work / f"reads-{name.replace(' ', '-')}.log"
        proc = subprocess.Popen([str(binary), "--addr", f"127.0.0.1:{port}"], env=env,
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        wait_port(port)
        builds[name] = {"proc": proc, "client": Client(port), "log": log, "samples": {}, "calls": {}}
    routes = read_routes(uid, mrn)
    for b in builds.values():
        for label, path in routes:
            offset = b["log"].stat().st_size
            status, _, _ = b["client"].call("GET", path)
            lines, _ = log_lines(b["log"], offset)
            b["calls"][label] = lines[-1].get("aws_calls", "") if lines else ""
            for _ in range(10):
                b["client"].call("GET", path)
    rounds, per_round = (3, 20) if QUICK else (6, 40)
    for _ in range(rounds):
        for b in builds.values():
            for label, path in routes:
                for _ in range(per_round):
                    _, _, ms = b["client"].call("GET", path)
                    b["samples"].setdefault(label, []).append(ms)
    for b in builds.values():
        b["proc"].send_signal(signal.SIGTERM)
        b["proc"].wait(timeout=10)
    return {"baseline": BASELINE, "routes": [label for label, _ in routes],
            "builds": {name: {"calls": b["calls"],
                              "p50": {k: statistics.median(v) for k, v in b["samples"].items()},
                              "n": {k: len(v) for k, v in b["samples"].items()}}
                       for name, b in builds.items()}}


def attach_requests(c, dept):
    """Attach requests for distinct uploaded keys, spread over ten patients.
    The uploads are made first (not timed)."""
    targets = []
    for _ in range(10):
        _, ap, _ = c.call("POST", "/patients", {"name": "A", "registration": {
            "mrn": f"BENCH-{uuid.uuid4().hex[:8]}", "scheme": "GENERAL", "department": dept}})
        targets.append(ap["patientId"])
    jobs = []
    for i in range(SAMPLES + 20):
        target = targets[i % len(targets)]
        _, up, _ = c.call("POST", f"/patients/{target}/files/presign-upload",
                          {"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "radiology"})
        assert put_presigned(up, PHOTO) == 200
        jobs.append((target, up["key"]))
    jobs = iter(jobs)

    def make():
        target, key = next(jobs)
        return "POST", f"/patients/{target}/documents/attach", {"category": "radiology", "key": key}

    return make


class Bare:
    """The DynamoDB calls of the measured routes, sent straight to an emulator
    as raw JSON over one kept-alive connection (no SDK, no signing: moto does
    not check signatures), so the time is the emulator's and little else."""

    def __init__(self, endpoint, table):
        host, _, port = endpoint.split("://", 1)[1].partition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.table = table

    def send(self, operation, body):
        headers = {
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/20260101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=0",
        }
        self.conn.request("POST", "/", body=json.dumps(body), headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{operation}: {resp.status} {data[:200]!r}")

    def create_table(self):
        self.send("CreateTable", {
            "TableName": self.table, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"},
                                     {"AttributeName": "SK", "AttributeType": "S"}]})

    def patient(self, uid):
        keys = [{"PK": {"S": f"PATIENT#{uid}"}, "SK": {"S": "META_LATEST"}},
                {"PK": {"S": f"MRN#{uid}"}, "SK": {"S": "MRN"}}]
        self.send("BatchGetItem", {"RequestItems": {self.table: {"Keys": keys, "ConsistentRead": True}}})

    def notes(self, uid):
        self.send("Query", {
            "TableName": self.table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
            "ExpressionAttributeValues": {":pk": {"S": f"PATIENT#{uid}"}, ":sk": {"S": "NOTE#"}},
            "ScanIndexForward": False, "Limit": 50})

    def tasks(self, dept):
        self.send("Query", {
            "TableName": self.table, "IndexName": "GSI2PK-GSI2SK-index", "KeyConditionExpression": "GSI2PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"TASK#OPEN#DEPT#{dept}"}}, "Limit": 100})

    def transaction(self):
        item = {"PK": {"S": "BENCH#FLOOR"}, "SK": {"S": uuid.uuid4().hex}}
        self.send("TransactWriteItems", {"TransactItems": [{"Put": {
            "TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}]})


def stock_moto_floor(uid):
    """The same BatchGetItem against moto's own server (`moto_server`, the
    emulator the Node.js figures were taken with), on a table holding the
    patient's two items."""
    port = free_port()
    proc = subprocess.Popen([str(VENV_PY.parent / "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        bare = Bare(f"http://127.0.0.1:{port}", "HMS")
        bare.create_table()
        for pk, sk in ((f"PATIENT#{uid}", "META_LATEST"), (f"MRN#{uid}", "MRN")):
            bare.send("PutItem", {"TableName": "HMS", "Item": {"PK": {"S": pk}, "SK": {"S": sk}}})
        return timed(lambda: bare.patient(uid), FLOOR_SAMPLES)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(call, n):
    for _ in range(5):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50": percentile(samples, 50), "p90": percentile(samples, 90)}


def ratio(value, node):
    return f"{value / node * 100:.0f} %"


def write_report(r):
    cold = r["cold"]
    cold_med = statistics.median(cold)
    rss_mib = r["rss_kib"] / 1024
    lines = [
        "# Benchmarks",
        "",
        "Generated by `./setup.sh bench` (bench/bench.py); do not edit by hand.",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; run took {r['wall_s']:.0f} s"
        + (f", of which {r['build_s']:.0f} s building" if r.get("build_s") is not None else " (prebuilt server)")
        + (" (quick mode)" if QUICK else ""),
        f"- server: `{SERVER.name}` from `{SERVER.parent}` (release profile) serving the Lambda handler; "
        "DynamoDB/CloudFront: moto behind tests/emulator/moto_serial.py (one request at a time), S3: hms-local-s3, "
        "all on 127.0.0.1",
        "- command: `./setup.sh bench`",
        "",
        "## Targets",
        "",
        "| measure | HMS (this run) | Node.js version | target | met |",
        "|---|---|---|---|---|",
        f"| cold start, median of {len(cold)} (range) | {cold_med:.1f} ms ({min(cold):.1f}–{max(cold):.1f}) | "
        f"{NODE['cold_ms']:.0f} ms | ≤ 30 ms | {'yes' if cold_med <= 30 else 'no'} |",
        f"| peak RSS (VmHWM) after {r['requests']} requests | {rss_mib:.1f} MiB | {NODE['rss_mib']:.0f} MiB | "
        f"≤ 15 MiB | {'yes' if rss_mib <= 15 else 'no'} |",
    ]
    for route in ("GET /patients/{uid}", "GET /patients/{id}/documents", "POST /patients/{id}/files/presign-upload"):
        p50 = r["latency"][route]["p50"]
        node = NODE[route]
        lines.append(f"| p50 {route} | {p50:.2f} ms | {node} ms | ≤ {node * 0.8:.2f} ms (80 %) | "
                     f"{'yes' if p50 <= node * 0.8 else 'no'} ({ratio(p50, node)}) |")
    calls = r["calls"]

    def count(label, service=""):
        """Calls made by a traced request, optionally of one service ("DynamoDB.", "S3.")."""
        text = calls.get(label, (0, "", ""))[1]
        return sum(int(part.rsplit("x", 1)[1]) for part in text.split(", ")
                   if "x" in part and part.startswith(service))

    presign = "POST /patients/{uid}/files/presign-upload"
    checks = [
        ("GET documents by UID: 1 DynamoDB read (its ledger entry alongside)", "GET /patients/{uid}/documents",
         count("GET /patients/{uid}/documents", "DynamoDB.BatchGetItem") == 1
         and count("GET /patients/{uid}/documents", "DynamoDB.") == 2),
        ("GET documents by MRN: 2 DynamoDB reads (and its ledger entry)", "GET /patients/{mrn}/documents",
         count("GET /patients/{mrn}/documents", "DynamoDB.BatchGetItem") == 2),
        ("GET /patients/{mrn}: ≤ 2 calls", "GET /patients/{mrn}", count("GET /patients/{mrn}") <= 2),
        ("presign-upload: 1 call, no S3 call", presign, count(presign) == 1 and count(presign, "S3.") == 0),
        ("attach: ≤ 4 calls (read, ranged GET of the object, write, entries listed)",
         "POST /patients/{uid}/documents/attach", count("POST /patients/{uid}/documents/attach") <= 4),
        ("state change: ≤ 2 calls", "PATCH /patients/{uid}/state", count("PATCH /patients/{uid}/state") <= 2),
    ]
    for name, label, ok in checks:
        measured = calls.get(label, (0, "not traced", ""))[1]
        lines.append(f"| {name} | {measured} | | | {'yes' if ok else 'no'} |")
    no_scan = all("Scan" not in c[1] for c in calls.values())
    lines.append(f"| no Scan in any traced route | {len(calls)} requests traced | | | {'yes' if no_scan else 'no'} |")
    by_mrn = "GET /patients/{mrn}"
    ledger_only = (count(by_mrn) == 3 and count(by_mrn, "DynamoDB.TransactWriteItems") == 1
                   and count(presign) == 2 and count(presign, "DynamoDB.TransactWriteItems") == 1)
    if ledger_only:
        lines += ["", "`GET /patients/{mrn}` and presign-upload each make one call more than their targets, "
                  "which predate the audit ledger: that call is the TransactWriteItems holding the ledger entry "
                  "every patient-scoped request writes. By MRN it goes out together with the second read, so "
                  "it adds no round trip (tests/api/faults.rs); presign-upload writes it in one transaction "
                  "with the upload intent, after the read that names the patient (the intent carries its MRN "
                  "and scheme)."]
    bare = r["emulator"]
    floor = bare["GET /patients/{uid}"]
    stock = r["stock_moto"]
    uid_p50 = r["latency"]["GET /patients/{uid}"]["p50"]
    health_med = statistics.median(r["cold_health"])
    health_p50 = r["latency"]["GET /health (no AWS call)"]["p50"]
    lines += [
        "",
        "## What bounds the timings",
        "",
        "Every route here waits on the emulator, a Python server that applies one request at a time.",
        "",
        f"- The DynamoDB call behind `GET /patients/{{uid}}` (one BatchGetItem), sent straight to the "
        f"emulator as raw HTTP, takes p50 {floor['p50']:.2f} ms (p90 {floor['p90']:.2f} ms); the route "
        f"takes p50 {uid_p50:.2f} ms, so HMS's own share is about {uid_p50 - floor['p50']:.2f} ms. "
        "The last column of the latency table does the same for the other routes.",
        f"- `GET /health`, the same HTTP path and router without an AWS call, takes p50 "
        f"{health_p50:.2f} ms.",
        f"- The Node.js figures were taken through moto's own server (`moto_server`). In this run the "
        f"same BatchGetItem sent to a fresh `moto_server` holding only the patient's two items takes "
        f"p50 {stock['p50']:.2f} ms (p90 {stock['p90']:.2f} ms), and {floor['p50']:.2f} ms on this run's "
        "emulator and table. A route that needs one DynamoDB answer cannot be faster than that answer, "
        f"so the {NODE['GET /patients/{uid}'] * 0.8:.2f} ms target for `GET /patients/{{uid}}` (80 % of "
        f"{NODE['GET /patients/{uid}']} ms) is below what either emulator takes for the call alone; "
        "HMS's own share of each route is the difference between the route and its bare call.",
        "- This run's emulator is moto behind a keep-alive server, with transactions that copy only "
        "the items they name and a table Query that reads only its partition "
        "(tests/emulator/moto_serial.py). A Query on an index still reads every item of the table, so "
        "`GET /tasks?department=` slows down as the run adds items; real DynamoDB reads only the "
        "index partition.",
        f"- Cold start to the first 200 of `GET /health`, which makes no AWS call, is {health_med:.1f} ms "
        f"median ({min(r['cold_health']):.1f}–{max(r['cold_health']):.1f}); the rest of the "
        f"{cold_med:.1f} ms to the first `GET /patients/{{uid}}` is the first emulator call, "
        "including its connection.",
    ]
    if r.get("cold_traced"):
        traced_med = statistics.median(r["cold_traced"])
        lines.append(
            f"- With X-Ray on (a daemon address set and a sampled first request, whose AWS calls go out "
            f"as subsegments: {r['subsegments']} received over {len(r['cold_traced'])} starts), cold start "
            f"is {traced_med:.1f} ms median ({min(r['cold_traced']):.1f}–{max(r['cold_traced']):.1f}), "
            f"against {cold_med:.1f} ms without, starts interleaved ({traced_med / cold_med:.2f}×).")
    lines += ["", "## Latency (ms, sequential requests after warm-up)", "",
              "| route | n | p50 | p90 | p99 | errors | its DynamoDB call alone, straight to the emulator, p50 |",
              "|---|---|---|---|---|---|---|"]
    for route, v in r["latency"].items():
        b = bare.get(route)
        floor_text = f"{b['operation']}: {b['p50']:.2f}" if b else ""
        lines.append(f"| {route} | {v['n']} | {v['p50']:.2f} | {v['p90']:.2f} | {v['p99']:.2f} | "
                     f"{v['errors']} | {floor_text} |")
    scale = r["scale"]
    first, last = min(scale), max(scale)
    lines += ["", "## Documents at scale (one patient, lab reports)", "",
              f"Entries were uploaded and attached through the API one after another; at each size "
              f"{SCALE_SAMPLES} more attaches and {SCALE_SAMPLES} documents reads were timed "
              f"(medians). Server errors on the way: {r['scale_errors']}.", "",
              "| entries | attach p50 (ms) | GET documents p50 (ms) | entries listed (count) | AWS calls of one attach |",
              "|---|---|---|---|---|"]
    for size, v in scale.items():
        lines.append(f"| {size} | {v['attach_p50']:.2f} | {v['get_p50']:.2f} | {v['listed']} ({v['counted']}) | "
                     f"{v['calls']} |")
    ratio_at = scale[last]["attach_p50"] / scale[first]["attach_p50"]
    cc = r["concurrent"]
    lines += ["", f"- attach at {last} entries takes {ratio_at:.2f}× attach at {first} "
              f"(target ≤ 1.5×: {'met' if ratio_at <= 1.5 else 'missed'}).",
              f"- {CONCURRENT_ATTACHES} attaches of distinct uploaded keys to one patient at once: "
              f"{cc['ok']} acknowledged, {cc['conflict']} answered 409, {cc['server_error']} answered 5xx, "
              f"{cc['present']} present afterwards.",
              f"- Above 1000 entries the documents read answers each category's newest {scale[last]['listed']} entries, its "
              "count and a cursor for the rest, so its size and cost stop growing with the record."]
    against = r.get("against")
    if against:
        now, base = against["builds"]["this build"], against["builds"]["baseline"]
        lines += ["", "## Read routes with the read ledger against the build before it", "",
                  f"Both builds served the same emulators and table at once; each route was timed in "
                  f"alternating rounds ({now['n'][against['routes'][0]]} requests per route and build). "
                  f"Baseline: `{Path(against['baseline']).name}`, the build before every read wrote its "
                  "ledger entry.", "",
                  "| route | calls before | calls now | p50 before (ms) | p50 now (ms) | now / before |",
                  "|---|---|---|---|---|---|"]
        for label in against["routes"]:
            b50, n50 = base["p50"][label], now["p50"][label]
            lines.append(f"| {label} | {base['calls'][label]} | {now['calls'][label]} | {b50:.2f} | "
                         f"{n50:.2f} | {n50 / b50:.2f} |")
        tx_floor = r["emulator"].get("POST /patients/{id}/documents/attach", {}).get("p50")
        floor_text = f" (its TransactWriteItems alone: {tx_floor:.2f} ms)" if tx_floor else ""
        lines += ["", "- By UID the entry is a transaction written alongside the read (a check that the "
                  "patient exists and the put), started together with the read: one more call, not one "
                  "more round trip. By MRN it goes out with the second read (the patient's items), once "
                  "the MRN pointer has named the UID: no more round trip either "
                  "(tests/api/faults.rs slows every call by 300 ms to show it).",
                  "- This emulator applies one request at a time, so two calls sent together take the sum "
                  "of their times here: the time a read gains is the entry's own emulator time"
                  f"{floor_text}, whether it was sent alongside or after. On DynamoDB, which serves both "
                  "at once, the read by UID waits for the slower of the two; the documents read, which "
                  "already wrote its entry alongside before, shows the same cost in both columns."]
    lines += ["", "## AWS calls per request (from the call-counting interceptor)", "",
              "| request | status | calls |", "|---|---|---|"]
    for label, (status, text, _route) in calls.items():
        lines.append(f"| {label} | {status} | {text or 'none'} |")
    lines += ["", "## Binary (release, x86_64, stripped)", "",
              "`hms-local` is the Lambda handler behind a small HTTP adapter; the Lambda binary `hms-api` "
              "is built from the same crate by `./setup.sh build`.", "", "| binary | size |", "|---|---|"]
    for name, size in r["sizes"].items():
        lines.append(f"| {name} | {size / 1024 / 1024:.1f} MiB |")
    lines.append("")
    text = "\n".join(lines)
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

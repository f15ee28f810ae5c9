"""curl smoke tests of a running HMS API (deployed or local).

Usage: python3 tests/smoke.py BASE_URL
Checks health, patient create/get (by UID and MRN), the documents screen, and
an upload: presign, PUT the bytes to S3 with the returned headers, attach.
Prints a closing "N passed, M failed" line; exits non-zero on any failure.
With authentication on, set HMS_TOKEN to a bearer token for the API.
"""

import json
import os
import subprocess
import sys
import uuid

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:3000"
TOKEN = os.environ.get("HMS_TOKEN", "")
results = []


def call(method, path, body=None, url=None, headers=None, data=None):
    """One request with curl; returns (status, parsed JSON or raw bytes)."""
    payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    cmd = ["curl", "-sS", "-X", method, "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"]
    if body is not None:
        cmd += ["-H", "content-type: application/json"]
    if url is None and TOKEN:
        cmd += ["-H", f"authorization: Bearer {TOKEN}"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if payload is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append(url or BASE + path)
    out = subprocess.run(cmd, input=payload, capture_output=True, check=False).stdout
    raw, _, code = out.rpartition(b"\n")
    status = int(code or 0)
    if url is None:
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw
    return status, raw


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    return ok


def main():
    status, body = call("GET", "/health")
    check("GET /health", status == 200 and body.get("ok") is True, (status, body))

    mrn = f"SMOKE-{uuid.uuid4().hex[:12]}"
    status, body = call("POST", "/patients", {
        "name": "Smoke Test", "registration": {"mrn": mrn, "scheme": "GENERAL", "department": "Smoke"}})
    if not check("POST /patients", status == 201, (status, body)):
        return finish()
    uid = body["patientId"]
    status, body = call("GET", f"/patients/{uid}")
    check("GET /patients/{uid}", status == 200 and body.get("mrn") == mrn, (status, body))
    status, body = call("GET", f"/patients/{mrn}")
    check("GET /patients/{mrn}", status == 200 and body.get("id") == uid, (status, body))
    status, body = call("GET", f"/patients/{uid}/documents")
    check("GET documents (empty)", status == 200 and body.get("labReports") == [], (status, body))

    status, presign = call("POST", f"/patients/{uid}/files/presign-upload",
                           {"filename": "smoke.pdf", "mimeType": "application/pdf", "docType": "lab",
                            "uploadedBy": "smoke"})
    if not check("presign-upload", status == 200 and presign.get("method") == "PUT", (status, presign)):
        return finish()
    content = b"%PDF-1.4 smoke test\n"
    status, _ = call("PUT", "", url=presign["uploadUrl"], headers=presign["headers"], data=content)
    check("PUT to the presigned URL", status == 200, status)
    status, body = call("POST", f"/patients/{uid}/documents/attach",
                        {"category": "lab_reports", "key": presign["key"], "uploadedBy": "smoke"})
    entries = body.get("documents", {}).get("labReports", []) if isinstance(body, dict) else []
    check("attach", status == 200 and [e["key"] for e in entries] == [presign["key"]]
          and entries[0].get("size") == len(content), (status, body))
    status, body = call("POST", f"/patients/{uid}/files/presign-download", {"key": presign["key"]})
    if check("presign-download", status == 200, (status, body)):
        status, got = call("GET", "", url=body["url"])
        check("GET the presigned URL returns the bytes", status == 200 and got == content, status)

    status, body = call("GET", f"/patients/{uid}/audit")
    actions = [e.get("action") for e in body.get("items", [])] if isinstance(body, dict) else []
    # Every read is recorded too. The S3 event ingest may attach the upload
    # before the attach call does (then the call is a no-op that records
    # only its links as an access).
    reads = [a for a in actions if a.endswith((".read", ".list")) or a == "documents.links"]
    changes = [a for a in actions if a not in reads]
    check("audit ledger lists the flow newest first", status == 200 and changes[:4] == [
        "files.presign-download", "documents.attach", "files.presign-upload", "patient.create"]
        and reads.count("patient.read") == 2 and "documents.read" in reads, (status, actions))

    status, body = call("PATCH", f"/patients/{uid}/documents/gov-share", {"share": True})
    check("gov-share on", status == 200 and body.get("patient", {}).get("govShare") is True,
          (status, body))
    summary = {"sections": {"diagnosis": {"primary": "Appendicitis"}}, "commitMessage": "draft"}
    status, body = call("POST", f"/patients/{uid}/discharge", summary)
    version = body.get("version", {}) if isinstance(body, dict) else {}
    check("discharge summary saved", status == 201 and version.get("versionId"), (status, body))
    status, body = call("GET", f"/patients/{mrn}/discharge")
    check("discharge summary is current",
          status == 200 and body.get("versions") == 1
          and body.get("latest", {}).get("versionId") == version.get("versionId"), (status, body))

    status, body = call("GET", f"/patients/{uuid.uuid4()}")
    check("unknown patient is 404", status == 404 and "error" in body, (status, body))
    status, body = call("DELETE", "/health")
    check("wrong method is 405", status == 405, (status, body))
    return finish()


def finish():
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

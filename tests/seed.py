#!/usr/bin/env python3
"""Loads a few demo patients through the HMS API, so that a frontend opened
against a fresh local stack shows a populated app.

    python3 tests/seed.py API_BASE_URL        (e.g. http://127.0.0.1:3000)

Three fictitious patients (MRNs DEMO-001..003), each with documents uploaded
for real (presign-upload, then an HTTP PUT of the bytes to the presigned URL
with the headers the API returned, then documents/attach), notes, meds and
tasks, and one note with an attached photo. Standard library only.

Idempotent: when DEMO-001 already exists the script says so and exits 0.
DEMO-001 is seeded last, so a run that failed on DEMO-002 or DEMO-003 can
simply be repeated: a patient whose MRN already exists is skipped, not
duplicated.
"""

import json
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib

TIMEOUT_S = 30

# ---- demo data (every name is fictitious) -----------------------------------

PATIENTS = [
    {
        "name": "Demo Patient Two",
        "age": 61,
        "sex": "F",
        "mrn": "DEMO-002",
        "scheme": "GENERAL",
        "department": "Orthopaedics",
        "diagnosis": "Demo: osteoarthritis of the right knee",
        "assignedDoctor": "Dr Demo Beta",
        "assignedDoctorId": "demo-doctor-beta",
        "states": ["preop", "postop"],
        "documents": [
            {"category": "lab_reports", "docType": "lab", "file": "pdf", "title": "Demo lab report: full blood count",
             "stamp": {"label": "verified"}, "caption": "Full blood count (demo)"},
            {"category": "radiology", "docType": "radiology", "file": "pdf", "title": "Demo radiology: knee X-ray",
             "caption": "Knee X-ray report (demo)"},
            {"category": "postop_pics", "docType": "postop", "file": "png", "colour": (60, 140, 90),
             "caption": "Wound, day 1 (demo)"},
        ],
        "notes": [
            {"authorId": "demo-doctor-beta", "category": "doctorNote",
             "content": "Demo note: day 1 after knee replacement, pain controlled, mobilising with frame."},
            {"authorId": "demo-nurse-gamma", "category": "nurseNote",
             "content": "Demo note: observations stable overnight."},
        ],
        "meds": [
            {"name": "Paracetamol", "dose": "1 g", "route": "oral", "freq": "QDS",
             "start": "2026-11-28T08:00:00.000Z", "priority": "routine"},
            {"name": "Enoxaparin", "dose": "40 mg", "route": "subcutaneous", "freq": "OD",
             "start": "2026-11-28T18:00:00.000Z", "priority": "important"},
        ],
        "tasks": [
            {"title": "Physiotherapy review", "type": "assessment", "due": "2026-12-02T10:00:00.000Z",
             "assigneeId": "demo-physio-delta", "priority": "medium"},
        ],
    },
    {
        "name": "Demo Patient Three",
        "age": 38,
        "sex": "M",
        "mrn": "DEMO-003",
        "scheme": "PAID",
        "department": "Surgery",
        "diagnosis": "Demo: inguinal hernia",
        "assignedDoctor": "Dr Demo Alpha",
        "assignedDoctorId": "demo-doctor-alpha",
        "states": [],  # stays in the first state, onboarding
        "documents": [
            {"category": "preop_pics", "docType": "preop", "file": "png", "colour": (200, 120, 40),
             "caption": "Pre-op photo (demo)"},
            {"category": "lab_reports", "docType": "lab", "file": "png", "colour": (90, 90, 180),
             "caption": "Lab slip photo (demo)"},
        ],
        "notes": [
            {"authorId": "demo-doctor-alpha", "category": "doctorNote",
             "content": "Demo note: first visit, booked for elective repair."},
        ],
        "meds": [
            {"name": "Ibuprofen", "dose": "400 mg", "route": "oral", "freq": "TDS",
             "start": "2026-11-30T09:00:00.000Z"},
        ],
        "tasks": [
            {"title": "Pre-op bloods", "type": "lab", "due": "2026-12-03T09:00:00.000Z",
             "assigneeId": "demo-nurse-gamma", "priority": "high"},
            {"title": "Anaesthetic assessment", "type": "assessment", "due": "2026-12-04T14:00:00.000Z",
             "assigneeId": "demo-doctor-epsilon"},
        ],
    },
    {
        "name": "Demo Patient One",
        "age": 47,
        "sex": "M",
        "mrn": "DEMO-001",
        "scheme": "GENERAL",
        "department": "Surgery",
        "diagnosis": "Demo: gallstones (cholelithiasis)",
        "assignedDoctor": "Dr Demo Alpha",
        "assignedDoctorId": "demo-doctor-alpha",
        "states": ["preop"],
        "documents": [
            {"category": "preop_pics", "docType": "preop", "file": "png", "colour": (30, 110, 170),
             "caption": "Pre-op photo (demo)"},
            {"category": "lab_reports", "docType": "lab", "file": "pdf", "title": "Demo lab report: liver function",
             "stamp": {"label": "verified"}, "caption": "Liver function tests (demo)"},
            {"category": "radiology", "docType": "radiology", "file": "pdf", "title": "Demo radiology: abdominal ultrasound",
             "caption": "Ultrasound report (demo)"},
            {"category": "lab_reports", "docType": "lab", "file": "png", "colour": (150, 40, 60),
             "caption": "Blood group card (demo)"},
        ],
        "notes": [
            {"authorId": "demo-doctor-alpha", "category": "doctorNote",
             "content": "Demo note: listed for laparoscopic cholecystectomy.", "photo": (220, 180, 60)},
            {"authorId": "demo-pharmacist-zeta", "category": "pharmacy",
             "content": "Demo note: medicines reconciled, no allergies recorded."},
        ],
        "meds": [
            {"name": "Omeprazole", "dose": "20 mg", "route": "oral", "freq": "OD",
             "start": "2026-11-29T08:00:00.000Z"},
        ],
        "tasks": [
            {"title": "Consent for surgery", "type": "procedure", "due": "2026-12-02T12:00:00.000Z",
             "assigneeId": "demo-doctor-alpha", "priority": "high"},
        ],
    },
]

MARKER_MRN = "DEMO-001"
MIME = {"png": "image/png", "pdf": "application/pdf"}


# ---- files made here ----------------------------------------------------------

def make_png(width, height, colour):
    """A valid RGB PNG: a vertical gradient of `colour` with a white cross."""
    r0, g0, b0 = colour
    cx, cy = width // 2, height // 2
    rows = []
    for y in range(height):
        shade = 0.55 + 0.45 * y / max(1, height - 1)
        base = bytes((int(r0 * shade), int(g0 * shade), int(b0 * shade)))
        row = bytearray(b"\x00")  # filter type 0 (None)
        for x in range(width):
            if abs(x - cx) < width // 16 or abs(y - cy) < height // 16:
                row += b"\xff\xff\xff"
            else:
                row += base
        rows.append(bytes(row))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


def pdf_text(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(title, lines):
    """A one-page PDF 1.4 with a correct cross-reference table."""
    ops = ["BT", "/F1 16 Tf", "50 760 Td", f"({pdf_text(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        ops += ["0 -22 Td", f"({pdf_text(line)}) Tj"]
    ops.append("ET")
    content = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


# ---- HTTP -------------------------------------------------------------------

class SeedError(Exception):
    pass


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def call(self, method, path, body=None, ok=(200, 201)):
        """Sends JSON, returns (status, parsed JSON). Statuses outside `ok` raise SeedError."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, OSError) as err:
            raise SeedError(f"{method} {path}: cannot reach the API at {self.base} "
                            f"({getattr(err, 'reason', err)})") from None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if status not in ok:
            message = parsed.get("error") if isinstance(parsed, dict) else None
            raise SeedError(f"{method} {path} -> {status}: {message or 'no error message'}")
        return status, parsed


def put_object(url, headers, data):
    """PUTs bytes to a presigned URL with exactly the headers the API returned."""
    shown = url.split("?", 1)[0]  # the query string carries the signature
    req = urllib.request.Request(url, data=data, method="PUT")
    for name, value in headers.items():
        req.add_header(name, str(value))
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace")
        code = _xml_field(text, "Code")
        message = _xml_field(text, "Message")
        detail = " ".join(x for x in (code, message) if x) or "no error message"
        raise SeedError(f"PUT {shown} -> {err.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as err:
        raise SeedError(f"PUT {shown}: cannot reach S3 ({getattr(err, 'reason', err)})") from None


def _xml_field(text, tag):
    start = text.find(f"<{tag}>")
    end = text.find(f"</{tag}>")
    if start < 0 or end < start:
        return ""
    return text[start + len(tag) + 2:end]


# ---- seeding -------------------------------------------------------------------

def upload(api, base, presign_body, data):
    """presign-upload, then the PUT; returns the object key."""
    _, answer = api.call("POST", f"{base}/files/presign-upload", presign_body)
    if not isinstance(answer, dict) or not answer.get("key") or not answer.get("uploadUrl"):
        raise SeedError(f"POST {base}/files/presign-upload: the answer has no key or uploadUrl")
    put_object(answer["uploadUrl"], answer.get("headers") or {}, data)
    return answer["key"]


def seed_patient(api, spec, counts):
    status, _ = api.call("GET", f"/patients/by-mrn/{urllib.parse.quote(spec['mrn'])}", ok=(200, 404))
    if status == 200:
        print(f"  {spec['mrn']} already exists (left by an earlier, interrupted run): skipped")
        return
    registration = {k: spec[k] for k in ("mrn", "scheme", "department", "diagnosis",
                                         "assignedDoctor", "assignedDoctorId")}
    _, created = api.call("POST", "/patients", {
        "name": spec["name"], "age": spec["age"], "sex": spec["sex"],
        "emergencyContact": {"name": f"Demo Contact of {spec['name']}", "relationship": "sibling",
                             "phone": "+00 0000 000000"},
        "registration": registration,
    }, ok=(201,))
    uid = created["patientId"]
    base = f"/patients/{urllib.parse.quote(uid)}"
    counts["patients"] += 1

    for state in spec["states"]:
        api.call("PATCH", f"{base}/state", {"currentState": state, "actorId": "demo-seed"})

    for i, doc in enumerate(spec["documents"]):
        if doc["file"] == "pdf":
            data = make_pdf(doc["title"], [f"Patient: {spec['name']} ({spec['mrn']})",
                                           "Fictitious demo data, not a real report.",
                                           "Result: within the demo reference range."])
            filename = f"demo-{doc['docType']}-{i + 1}.pdf"
        else:
            data = make_png(200, 150, doc["colour"])
            filename = f"demo-{doc['docType']}-{i + 1}.png"
        key = upload(api, base, {"filename": filename, "mimeType": MIME[doc["file"]],
                                 "kind": "doc", "docType": doc["docType"]}, data)
        attach = {"category": doc["category"], "key": key, "uploadedBy": "demo-seed",
                  "caption": doc.get("caption")}
        if doc.get("stamp"):
            attach["stamp"] = doc["stamp"]
        api.call("POST", f"{base}/documents/attach", attach, ok=(200,))
        counts["documents"] += 1

    for note in spec["notes"]:
        body = {k: v for k, v in note.items() if k != "photo"}
        _, answer = api.call("POST", f"{base}/notes", body, ok=(201,))
        counts["notes"] += 1
        if note.get("photo"):
            note_id = answer["note"]["noteId"]
            key = upload(api, base, {"filename": "demo-note-photo.png", "mimeType": "image/png",
                                     "kind": "note", "refId": note_id},
                         make_png(240, 180, note["photo"]))
            _, attached = api.call("POST", f"{base}/notes/{urllib.parse.quote(note_id)}/files/attach",
                                   {"key": key}, ok=(200,))
            if key not in ((attached or {}).get("note") or {}).get("files", []):
                raise SeedError(f"POST {base}/notes/{note_id}/files/attach: the note's files lack {key}")
            counts["note photos"] += 1

    for med in spec["meds"]:
        api.call("POST", f"{base}/meds", med, ok=(201,))
        counts["meds"] += 1

    for task in spec["tasks"]:
        api.call("POST", f"{base}/tasks", task, ok=(201,))
        counts["tasks"] += 1

    state = spec["states"][-1] if spec["states"] else "onboarding"
    print(f"  {spec['mrn']} {spec['name']} ({spec['department']}, {state}): uid {uid}")


def main(argv):
    if len(argv) != 2 or not argv[1].startswith(("http://", "https://")):
        print("usage: python3 tests/seed.py API_BASE_URL   (e.g. http://127.0.0.1:3000)", file=sys.stderr)
        return 2
    api = Api(argv[1])
    counts = dict.fromkeys(("patients", "documents", "notes", "note photos", "meds", "tasks"), 0)
    try:
        status, _ = api.call("GET", f"/patients/by-mrn/{MARKER_MRN}", ok=(200, 404))
        if status == 200:
            print(f"demo data is already there ({MARKER_MRN} exists): nothing to do")
            return 0
        print(f"seeding demo data into {api.base}")
        for spec in PATIENTS:
            seed_patient(api, spec, counts)
    except SeedError as err:
        print(f"seed failed: {err}", file=sys.stderr)
        if counts["patients"]:
            print(f"the {counts['patients']} patient(s) created before the failure stay: a re-run skips "
                  f"the MRNs that exist (and stops at once if {MARKER_MRN} exists); "
                  "start from an empty table for a full seed", file=sys.stderr)
        return 1
    print(f"seeded: {counts['patients']} patients, {counts['documents']} documents, "
          f"{counts['notes']} notes ({counts['note photos']} with a photo), "
          f"{counts['meds']} meds, {counts['tasks']} tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

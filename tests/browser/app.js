// HMS browser test page: does in a real browser what the clinic's React
// frontend does (API calls, presigned S3 uploads, links rendered from the
// API), so that CORS of the API and of S3 is exercised for real.
// Result: window.__hmsResult = {ok, checks: [{name, ok, detail}]}.
'use strict';

(function () {
  const params = new URLSearchParams(location.search);
  const API = (params.get('api') || '').replace(/\/+$/, '');
  const REQUEST_TIMEOUT_MS = 15000;
  const INGEST_POLL_MS = 250;
  const INGEST_WAIT_MS = 4000;

  const checks = [];
  window.__hmsChecks = checks; // partial progress, read by the runner on a timeout

  const listEl = document.getElementById('checks');
  const summaryEl = document.getElementById('summary');
  const galleryEl = document.getElementById('gallery');
  document.getElementById('api').textContent = API || '(none: pass ?api=URL)';

  /** A failed step: its message is the check's detail. */
  class StepError extends Error {}

  function record(name, ok, detail) {
    const entry = { name, ok: !!ok, detail: String(detail || '') };
    checks.push(entry);
    const li = document.createElement('li');
    li.className = entry.ok ? 'ok' : 'fail';
    li.textContent = (entry.ok ? 'PASS ' : 'FAIL ') + name;
    const span = document.createElement('span');
    span.className = 'detail';
    span.textContent = entry.detail;
    li.appendChild(span);
    listEl.appendChild(li);
    return entry.ok;
  }

  /** Runs one step as a check; returns its value, or throws StepError after recording the failure. */
  async function step(name, fn) {
    try {
      const { value, detail } = await fn();
      record(name, true, detail);
      return value;
    } catch (err) {
      const detail = err instanceof StepError ? err.message : `unexpected ${err && err.name}: ${err && err.message}`;
      record(name, false, detail);
      throw new StepError(detail);
    }
  }

  /** A URL without its query string (presigned links carry signatures). */
  function bare(url) {
    try {
      const u = new URL(url, location.href);
      return u.origin + u.pathname;
    } catch (_) {
      return String(url).split('?')[0];
    }
  }

  function networkFailure(what, err) {
    const why = err && err.name === 'TimeoutError'
      ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
      : `${err && err.name}: ${err && err.message} (the browser refused the request: CORS preflight refused, or the server is unreachable)`;
    return new StepError(`${what}: ${why}`);
  }

  /** Calls the API; resolves to the parsed JSON of a 2xx, throws StepError otherwise. */
  async function api(method, path, body) {
    const what = `${method} ${path}`;
    const init = { method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
    if (body !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (err) {
      throw networkFailure(what, err);
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!res.ok) {
      // Only the error message, never the rest of a patient route's body.
      const msg = data && typeof data.error === 'string' ? `: ${data.error}` : '';
      throw new StepError(`${what} -> ${res.status}${msg}`);
    }
    if (data === null) throw new StepError(`${what} -> ${res.status} but the body is not JSON`);
    return { status: res.status, data };
  }

  function need(cond, message) {
    if (!cond) throw new StepError(message);
  }

  // ---- files made in the page -------------------------------------------

  function makeJpeg(seed) {
    const canvas = document.getElementById('canvas');
    const ctx = canvas.getContext('2d');
    const grad = ctx.createLinearGradient(0, 0, canvas.width, canvas.height);
    grad.addColorStop(0, '#1d6fa5');
    grad.addColorStop(1, '#7fd1b9');
    ctx.fillStyle = grad;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = '#ffffff';
    ctx.beginPath();
    ctx.arc(70 + (seed * 37) % 180, 100, 45, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = '#c0392b';
    ctx.fillRect(60 + (seed * 37) % 180, 80, 20, 40);
    ctx.fillRect(50 + (seed * 37) % 180, 90, 40, 20);
    ctx.fillStyle = '#102030';
    ctx.font = 'bold 20px sans-serif';
    ctx.fillText(`HMS browser test #${seed}`, 20, 185);
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new StepError('canvas.toBlob gave no blob'))),
        'image/jpeg', 0.85);
    });
  }

  /** A one-page PDF 1.4 with a correct cross-reference table (ASCII only, so offsets = string indexes). */
  function makePdf() {
    const content = 'BT /F1 18 Tf 30 100 Td (HMS browser test report) Tj ET';
    const objects = [
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 360 200] /Contents 4 0 R ' +
        '/Resources << /Font << /F1 5 0 R >> >> >>',
      `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
      '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    ];
    let out = '%PDF-1.4\n';
    const offsets = [];
    objects.forEach((body, i) => {
      offsets.push(out.length);
      out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    });
    const xrefAt = out.length;
    out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
    for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
    out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
    return new Blob([out], { type: 'application/pdf' });
  }

  // ---- upload, the way the clinic's frontend does -------------------------

  const META_PREFIX = /^x-amz-meta-/i;

  async function putToS3(presigned, blob, variant) {
    const all = presigned.headers || {};
    const headers = {};
    const dropped = [];
    for (const [name, value] of Object.entries(all)) {
      if (variant === 'no-meta' && META_PREFIX.test(name)) dropped.push(name);
      else headers[name] = value;
    }
    const method = presigned.method || 'PUT';
    const what = `${method} ${bare(presigned.uploadUrl)}`;
    let res;
    try {
      res = await fetch(presigned.uploadUrl, {
        method, headers, body: blob, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw networkFailure(`${what} (headers sent: ${Object.keys(headers).join(', ') || 'none'})`, err);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const code = (text.match(/<Code>([^<]*)<\/Code>/) || [])[1];
      const msg = (text.match(/<Message>([^<]*)<\/Message>/) || [])[1];
      throw new StepError(`${what} -> ${res.status}${code ? ` ${code}` : ''}${msg ? `: ${msg}` : ''}` +
        (dropped.length ? ` (left out: ${dropped.join(', ')})` : ''));
    }
    await res.arrayBuffer().catch(() => null); // read to the end, so the request completes
    const metaNames = Object.keys(all).filter((n) => META_PREFIX.test(n));
    return {
      value: res.status,
      detail: `${res.status}; sent ${Object.keys(headers).length} header(s)` +
        (variant === 'no-meta' ? `, left out ${dropped.length} x-amz-meta-* header(s)` :
          `, of which ${metaNames.length} x-amz-meta-*`),
    };
  }

  // ---- checking links -------------------------------------------------------

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      const timer = setTimeout(() => reject(new StepError(`image ${bare(url)} did not load within ${REQUEST_TIMEOUT_MS / 1000} s`)),
        REQUEST_TIMEOUT_MS);
      img.onload = () => { clearTimeout(timer); resolve(img); };
      img.onerror = () => {
        clearTimeout(timer);
        reject(new StepError(`image ${bare(url)} failed to load (an error status or not an image)`));
      };
      img.alt = 'rendered from the API';
      img.src = url;
      galleryEl.appendChild(img);
    });
  }

  async function checkLink(url, mimeType) {
    need(typeof url === 'string' && url.length > 0, 'no cdnUrl or url on the entry');
    if (mimeType === 'application/pdf') {
      let res;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      } catch (err) {
        throw networkFailure(`GET ${bare(url)}`, err);
      }
      need(res.status === 200, `GET ${bare(url)} -> ${res.status}`);
      const head = new Uint8Array(await res.arrayBuffer()).subarray(0, 5);
      const magic = String.fromCharCode(...head);
      need(magic.startsWith('%PDF'), `GET ${bare(url)} -> 200 but the body starts with ${JSON.stringify(magic)}, not %PDF`);
      return { value: true, detail: `PDF fetched from ${bare(url)} (200, starts with %PDF)` };
    }
    const img = await loadImage(url);
    try {
      await img.decode();
    } catch (err) {
      throw new StepError(`image ${bare(url)} loaded but does not decode: ${err && err.message}`);
    }
    need(img.naturalWidth > 0, `image ${bare(url)} has naturalWidth 0`);
    return { value: true, detail: `image ${img.naturalWidth}x${img.naturalHeight} from ${bare(url)}` };
  }

  // ---- the cases --------------------------------------------------------------

  const DOC_FIELD = { lab_reports: 'labReports', radiology: 'radiology' };

  function hasKey(list, key) {
    return Array.isArray(list) && list.some((x) => (typeof x === 'string' ? x === key : x && x.key === key));
  }

  async function docCase(uid, c, files) {
    const name = `doc ${c.docType} ${c.file.toUpperCase()}, ${c.variant === 'all' ? 'all headers' : 'no x-amz-meta-*'}, ${c.flow}`;
    const blob = files[c.file];
    const mimeType = blob.type;
    const filename = c.file === 'pdf' ? 'browser-test-report.pdf' : 'browser-test-photo.jpg';
    const field = DOC_FIELD[c.category];
    const base = `/patients/${encodeURIComponent(uid)}`;
    const presigned = await step(`${name}: presign-upload`, async () => {
      const { data } = await api('POST', `${base}/files/presign-upload`,
        { filename, mimeType, kind: 'doc', docType: c.docType });
      need(data.key && data.uploadUrl, 'presign answer lacks key or uploadUrl');
      need(!data.method || data.method === 'PUT', `presign answer method is ${data.method}, not PUT`);
      return { value: data, detail: `key ${data.key}` };
    });
    await step(`${name}: PUT to S3`, () => putToS3(presigned, blob, c.variant));
    const key = presigned.key;
    let entry;
    if (c.flow === 'attach') {
      entry = await step(`${name}: documents/attach`, async () => {
        const { status, data } = await api('POST', `${base}/documents/attach`, { category: c.category, key });
        need(status === 200, `documents/attach -> ${status}, expected 200`);
        const docs = data.documents || {};
        const found = (docs[field] || []).find((e) => e && e.key === key);
        need(found, `documents.${field} has no entry with key ${key}`);
        return { value: found, detail: `documents.${field} has the key (${docs[field].length} entr${docs[field].length === 1 ? 'y' : 'ies'})` };
      });
    } else {
      entry = await step(`${name}: appears by ingest (no attach)`, async () => {
        const started = performance.now();
        let polls = 0;
        for (;;) {
          polls += 1;
          const { data } = await api('GET', `${base}/documents`);
          const found = (data[field] || []).find((e) => e && e.key === key);
          const waited = Math.round(performance.now() - started);
          if (found) return { value: found, detail: `in documents.${field} after ${waited} ms (${polls} poll(s))` };
          if (waited >= INGEST_WAIT_MS) {
            throw new StepError(`key ${key} not in documents.${field} after ${waited} ms (${polls} polls of GET ${base}/documents): the S3 ObjectCreated ingest did not add it`);
          }
          await new Promise((r) => setTimeout(r, INGEST_POLL_MS));
        }
      });
    }
    await step(`${name}: link renders`, () => checkLink(entry.cdnUrl || entry.url, mimeType));
  }

  const ENTITY = {
    note: { path: 'notes', field: 'note', idField: 'noteId' },
    med: { path: 'meds', field: 'med', idField: 'medId' },
    task: { path: 'tasks', field: 'task', idField: 'taskId' },
  };

  async function entityCase(uid, c, files, ids) {
    const e = ENTITY[c.kind];
    const refId = ids[c.kind];
    const name = `${c.kind} JPEG, ${c.variant === 'all' ? 'all headers' : 'no x-amz-meta-*'}`;
    const blob = files.jpeg;
    const base = `/patients/${encodeURIComponent(uid)}`;
    const presigned = await step(`${name}: presign-upload`, async () => {
      const { data } = await api('POST', `${base}/files/presign-upload`,
        { filename: `browser-test-${c.kind}.jpg`, mimeType: blob.type, kind: c.kind, refId });
      need(data.key && data.uploadUrl, 'presign answer lacks key or uploadUrl');
      return { value: data, detail: `key ${data.key}` };
    });
    await step(`${name}: PUT to S3`, () => putToS3(presigned, blob, c.variant));
    const key = presigned.key;
    const entityPath = `${base}/${e.path}/${encodeURIComponent(refId)}`;
    await step(`${name}: ${e.path}/{id}/files/attach`, async () => {
      const { status, data } = await api('POST', `${entityPath}/files/attach`, { key });
      need(status === 200, `files/attach -> ${status}, expected 200`);
      const entity = data[e.field];
      need(entity, `answer has no ${e.field}`);
      need(hasKey(entity.files, key), `${e.field}.files does not contain ${key}`);
      return { value: true, detail: `${e.field}.files has the key (${entity.files.length} file(s))` };
    });
    const item = await step(`${name}: files?kind=${c.kind}&refId&presign=1 lists it`, async () => {
      const q = `kind=${c.kind}&refId=${encodeURIComponent(refId)}&presign=1`;
      const { data } = await api('GET', `${base}/files?${q}`);
      const found = (data.items || []).find((x) => x && x.key === key);
      need(found, `GET ${base}/files?${q} has no item with key ${key} (${(data.items || []).length} item(s))`);
      need(found.cdnUrl || found.url, `the item with key ${key} has neither cdnUrl nor url`);
      return { value: found, detail: `item has ${found.cdnUrl ? 'cdnUrl' : 'url'}` };
    });
    await step(`${name}: link renders`, () => checkLink(item.cdnUrl || item.url, blob.type));
  }

  // ---- main ---------------------------------------------------------------

  async function main() {
    if (!API) {
      record('api parameter', false, 'open this page as index.html?api=API_BASE_URL');
      return;
    }
    const mrn = `BT-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`.toUpperCase();
    let uid;
    const ids = {};
    let files;
    try {
      uid = await step('create patient (POST /patients)', async () => {
        const { status, data } = await api('POST', '/patients', {
          name: 'Browser Test',
          registration: { mrn, scheme: 'GENERAL', department: 'Surgery' },
        });
        need(status === 201, `POST /patients -> ${status}, expected 201`);
        need(typeof data.patientId === 'string' && data.patientId.length >= 16,
          `patientId ${JSON.stringify(data.patientId)} is not a server-made UID`);
        need(data.patientId !== mrn, 'patientId equals the MRN');
        return { value: data.patientId, detail: `uid ${data.patientId}, mrn ${mrn}` };
      });
      files = await step('make a JPEG (canvas) and a PDF in the page', async () => {
        const jpeg = await makeJpeg(1);
        const pdf = makePdf();
        const head = new Uint8Array(await jpeg.slice(0, 3).arrayBuffer());
        need(jpeg.type === 'image/jpeg' && head[0] === 0xff && head[1] === 0xd8, 'canvas did not give a JPEG');
        return { value: { jpeg, pdf }, detail: `JPEG ${jpeg.size} B, PDF ${pdf.size} B` };
      });
    } catch (err) {
      if (!(err instanceof StepError)) record('setup', false, `unexpected ${err.name}: ${err.message}`);
      return; // nothing below can run without the patient and the files
    }

    // The note, med and task each stand alone: one that cannot be made only
    // skips the uploads that need it.
    const base = `/patients/${encodeURIComponent(uid)}`;
    const tryStep = (name, fn) => step(name, fn).catch(() => undefined);
    ids.note = await tryStep('create note', async () => {
      const { data } = await api('POST', `${base}/notes`,
        { authorId: 'dr-test', category: 'doctorNote', content: 'browser test' });
      need(data.note && data.note.noteId, 'answer has no note.noteId');
      return { value: data.note.noteId, detail: `noteId ${data.note.noteId}` };
    });
    const makeMed = (name, start) => tryStep(name, async () => {
      const { data } = await api('POST', `${base}/meds`,
        { name: 'Paracetamol', dose: '500 mg', route: 'oral', freq: 'TDS', start });
      need(data.med && data.med.medId, 'answer has no med.medId');
      return { value: data.med.medId, detail: `medId ${data.med.medId}, start stored as ${JSON.stringify(data.med.start)}` };
    });
    ids.med = await makeMed('create med', '2026-12-01T00:00:00.000Z');
    ids.task = await tryStep('create task', async () => {
      const { data } = await api('POST', `${base}/tasks`,
        { title: 'Check dressing', type: 'assessment', due: '2026-12-02T09:00:00.000Z', assigneeId: 'nurse-1' });
      need(data.task && data.task.taskId, 'answer has no task.taskId');
      return { value: data.task.taskId, detail: `taskId ${data.task.taskId}` };
    });

    // Header variants crossed with the flows: both variants for docs (attach
    // and ingest alike), notes, meds and tasks.
    const cases = [
      { type: 'doc', docType: 'lab', category: 'lab_reports', file: 'jpeg', variant: 'all', flow: 'attach' },
      { type: 'doc', docType: 'lab', category: 'lab_reports', file: 'jpeg', variant: 'no-meta', flow: 'ingest' },
      { type: 'doc', docType: 'radiology', category: 'radiology', file: 'pdf', variant: 'no-meta', flow: 'attach' },
      { type: 'doc', docType: 'radiology', category: 'radiology', file: 'pdf', variant: 'all', flow: 'ingest' },
      { type: 'entity', kind: 'note', variant: 'all' },
      { type: 'entity', kind: 'note', variant: 'no-meta' },
      { type: 'entity', kind: 'med', variant: 'all' },
      { type: 'entity', kind: 'med', variant: 'no-meta' },
      { type: 'entity', kind: 'task', variant: 'all' },
      { type: 'entity', kind: 'task', variant: 'no-meta' },
    ];
    for (const c of cases) {
      try {
        if (c.type === 'doc') await docCase(uid, c, files);
        else if (ids[c.kind]) await entityCase(uid, c, files, ids);
      } catch (err) {
        // A failed step ends its case only (already recorded); the next case runs.
        if (!(err instanceof StepError)) record('case', false, `unexpected ${err.name}: ${err.message}`);
      }
    }
  }

  main()
    .catch((err) => record('page script', false, `unexpected ${err && err.name}: ${err && err.message}`))
    .finally(() => {
      if (checks.length === 0) record('page script', false, 'no check ran');
      const failed = checks.filter((c) => !c.ok).length;
      const ok = checks.length > 0 && checks.every((c) => c.ok);
      summaryEl.textContent = `${checks.length - failed} passed, ${failed} failed`;
      summaryEl.style.color = ok ? '#2a8a3a' : '#c0392b';
      window.__hmsResult = { ok, checks };
    });
})();

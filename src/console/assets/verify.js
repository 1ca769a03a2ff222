// Checks, in the browser, that an entry is on the ledger: the signed checkpoint
// note under the pinned ledger key (C2SP signed note, Ed25519), the entry's ledger
// signature (context "diaspora.bonds.v1/entry"), and the RFC 9162 inclusion proof
// of its leaf hash SHA-256(0x00 || entry) against the note's root. Everything is
// computed here with WebCrypto from the bytes; nothing the console says is taken
// on trust except the bytes themselves (docs/LEDGER_FORMAT.md, sections 2, 5, 6, 9).

const te = new TextEncoder();

export function hexToBytes(hex) {
  const h = hex.trim().toLowerCase();
  if (!/^([0-9a-f]{2})*$/.test(h)) throw new Error("not hex: " + hex.slice(0, 20));
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
  return out;
}

export function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function b64ToBytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

async function ed25519Key(raw) {
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

async function ed25519Verify(raw, signature, message) {
  const key = await ed25519Key(raw);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

// ---- protobuf: just enough to read LedgerEntry { bytes body = 1; bytes
// ledger_signature = 2; } and EntryBody's index (field 1, varint).

function readVarint(buf, pos) {
  let v = 0n, shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error("varint runs past the end");
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [v, pos];
    shift += 7n;
  }
  throw new Error("varint longer than 10 bytes");
}

function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (wire === 0) {
      let v; [v, pos] = readVarint(buf, pos); out.push({ field, wire, value: v });
    } else if (wire === 2) {
      let len; [len, pos] = readVarint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) throw new Error("length-delimited field runs past the end");
      out.push({ field, wire, value: buf.subarray(pos, end) }); pos = end;
    } else if (wire === 1) { pos += 8; } else if (wire === 5) { pos += 4; }
    else throw new Error("unknown wire type " + wire);
  }
  if (pos !== buf.length) throw new Error("field runs past the end");
  return out;
}

export function openEntry(entry) {
  const f = fields(entry);
  const body = f.find((x) => x.field === 1 && x.wire === 2);
  const sig = f.find((x) => x.field === 2 && x.wire === 2);
  if (!body || !sig) throw new Error("the entry has no body or no ledger signature");
  const bf = fields(body.value);
  const idx = bf.find((x) => x.field === 1 && x.wire === 0);
  const prev = bf.find((x) => x.field === 3 && x.wire === 2);
  return {
    body: body.value,
    signature: sig.value,
    index: idx ? idx.value : 0n,
    prevHash: prev ? prev.value : new Uint8Array(0),
  };
}

// ---- C2SP signed note

export function parseNote(note) {
  if (!note.endsWith("\n")) throw new Error("the note does not end with a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2).split("\n").filter((l) => l.length > 0);
  const lines = text.split("\n");
  if (lines.length < 4) throw new Error("the note text is not origin, size and root");
  const [origin, size, root] = lines;
  if (!/^[0-9]+$/.test(size)) throw new Error("the note's size is not a number: " + size);
  const rootBytes = b64ToBytes(root);
  if (rootBytes.length !== 32) throw new Error("the note's root is not 32 bytes");
  const signatures = sigLines.map((l) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(l);
    if (!m) throw new Error("malformed signature line: " + l);
    const blob = b64ToBytes(m[2]);
    return { name: m[1], keyHash: blob.subarray(0, 4), signature: blob.subarray(4) };
  });
  return { text, origin, size: BigInt(size), root: rootBytes, signatures };
}

// Verifies the note's signature by `keyRaw` under key name `name`; returns the
// parsed note or throws saying why not.
export async function openNote(note, name, keyRaw) {
  const parsed = parseNote(note);
  const keyHash = (await sha256(concat(te.encode(name), new Uint8Array([0x0a, 0x01]), keyRaw))).subarray(0, 4);
  const mine = parsed.signatures.filter((s) => s.name === name && equal(s.keyHash, keyHash));
  if (mine.length === 0) {
    throw new Error(`no signature line by the pinned key (name ${name}, key hash ${bytesToHex(keyHash)})`);
  }
  for (const s of mine) {
    if (s.signature.length !== 64) throw new Error("the note's signature is not 64 bytes");
    if (!(await ed25519Verify(keyRaw, s.signature, te.encode(parsed.text)))) {
      throw new Error("the checkpoint's signature does not verify under the pinned key");
    }
  }
  return parsed;
}

// ---- RFC 9162 section 2.1.3.2

async function node(left, right) {
  return sha256(concat(new Uint8Array([0x01]), left, right));
}

export async function rootFromInclusion(index, size, leaf, proof) {
  if (index >= size) throw new Error(`index ${index} is not below the tree size ${size}`);
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of proof) {
    if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
    if (sn === 0n) throw new Error("the proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await node(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the proof is shorter than the tree is deep");
  return r;
}

// Checks a receipt ({origin, index, entry, tree_size, inclusion_proof,
// checkpoint}) against the pinned key. Returns {ok, steps, reason}.
export async function verifyReceipt(receipt, pinnedHex) {
  const steps = [];
  try {
    if (!crypto.subtle) throw new Error("this page has no WebCrypto (it needs https or a loopback address)");
    const key = hexToBytes(pinnedHex || "");
    if (key.length !== 32) throw new Error("pin the ledger key first (64 hex digits)");
    const note = await openNote(receipt.checkpoint, receipt.origin, key);
    if (note.origin !== receipt.origin) throw new Error(`the checkpoint is for ${note.origin}, not ${receipt.origin}`);
    if (note.size !== BigInt(receipt.tree_size)) throw new Error(`the checkpoint is for size ${note.size}, the proof for ${receipt.tree_size}`);
    steps.push(`checkpoint of size ${note.size} signed by the pinned key`);
    const entry = b64ToBytes(receipt.entry);
    const opened = openEntry(entry);
    if (opened.index !== BigInt(receipt.index)) throw new Error(`the entry is number ${opened.index}, not ${receipt.index}`);
    const ctx = te.encode("diaspora.bonds.v1/entry");
    const signed = concat(ctx, new Uint8Array([0]), opened.body);
    if (opened.signature.length !== 64 || !(await ed25519Verify(key, opened.signature, signed))) {
      throw new Error("the entry's ledger signature does not verify under the pinned key");
    }
    steps.push(`entry ${opened.index} signed by the pinned key`);
    const leaf = await sha256(concat(new Uint8Array([0x00]), entry));
    const proof = receipt.inclusion_proof.map(hexToBytes);
    const root = await rootFromInclusion(BigInt(receipt.index), BigInt(receipt.tree_size), leaf, proof);
    if (!equal(root, note.root)) {
      throw new Error(`the inclusion proof leads to root ${bytesToHex(root)}, the checkpoint's root is ${bytesToHex(note.root)}`);
    }
    steps.push(`leaf ${bytesToHex(leaf)} is in the tree by a proof of ${proof.length} hashes`);
    return { ok: true, steps, leaf: bytesToHex(leaf) };
  } catch (e) {
    return { ok: false, steps, reason: e.message || String(e) };
  }
}

// The key id the ledger uses for a public key: hex of SHA-256(key)[0..8].
export async function keyId(raw) {
  return bytesToHex((await sha256(raw)).subarray(0, 8));
}

#!/usr/bin/env python3
"""An example dbond client in Python: submits one subscription for an investor,
as a bank, with a correctly signed request.

It uses only stock tools: the Python stubs are generated at run time from the
repository's proto/ folder with grpc_tools.protoc (nothing generated is committed),
the Ed25519 key is the PKCS#8 PEM file `dbond keygen` writes, and the server's
services are listed through gRPC server reflection (v1alpha).

Every dbond RPC carries a SignedRequest (docs/LEDGER_FORMAT.md):

    payload   = encoded RequestPayload{ledger_origin, issued_at, nonce, command}
    signature = Ed25519 over b"diaspora.bonds.v1/request" || 0x00 || payload
    key_id    = lowercase hex of the first 8 bytes of SHA-256(32-byte public key)

Usage:
    python3 -m pip install -r examples/python/requirements.txt
    python3 examples/python/dbond_client.py --server 127.0.0.1:50051 \\
        --key bank-a.key --series AZ-2031-USD --investor inv-001 --units 10
    # ten subscriptions in one SubmitBatch call (investors inv-001-0 .. inv-001-9):
    python3 examples/python/dbond_client.py ... --count 10
"""

import argparse
import base64
import binascii
import hashlib
import importlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REQUEST_CONTEXT = b"diaspora.bonds.v1/request"
PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO_FILES = ["types.proto", "commands.proto", "events.proto", "ledger.proto", "services.proto"]
CATEGORIES = ["citizen_abroad", "child_of_citizen_abroad", "former_citizen", "affinity"]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


try:
    import grpc
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from google.protobuf.timestamp_pb2 import Timestamp
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    from grpc_tools import protoc
except ImportError as e:
    fail(
        f"{e}: install the example's packages with "
        "`python3 -m pip install -r examples/python/requirements.txt`"
    )


def generate_stubs(proto_root: Path, out_dir: Path):
    """Runs protoc (bundled with grpcio-tools) on the dbond protos into out_dir and
    returns the generated modules."""
    include = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/*.proto
    files = [str(proto_root / "diaspora" / "bonds" / "v1" / f) for f in PROTO_FILES]
    for f in files:
        if not Path(f).is_file():
            fail(f"proto file {f} is missing (run from a dbond checkout)")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *files,
        ]
    )
    if code != 0:
        fail(f"protoc failed on {proto_root} (exit code {code})")
    sys.path.insert(0, str(out_dir))
    pb = importlib.import_module("diaspora.bonds.v1.services_pb2")
    grpc_pb = importlib.import_module("diaspora.bonds.v1.services_pb2_grpc")
    commands = importlib.import_module("diaspora.bonds.v1.commands_pb2")
    ledger = importlib.import_module("diaspora.bonds.v1.ledger_pb2")
    types = importlib.import_module("diaspora.bonds.v1.types_pb2")
    return pb, grpc_pb, commands, ledger, types


def _der(data: bytes, pos: int):
    """Reads the DER element at pos: returns (tag, contents, position after it)."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 2 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos : pos + length], pos + length


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_from_pkcs8(der: bytes) -> Ed25519PrivateKey:
    """An Ed25519 key from PKCS#8 DER, version 1 or 2 (RFC 5958: with the public
    key in `[1] IMPLICIT BIT STRING`, which is checked against the private key)."""
    tag, body, end = _der(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a PKCS#8 structure")
    tag, version, pos = _der(body, 0)
    if tag != 0x02 or version not in (b"\x00", b"\x01"):
        raise ValueError("unsupported PKCS#8 version")
    tag, algorithm, pos = _der(body, pos)
    oid_tag, oid, _ = _der(algorithm, 0) if tag == 0x30 else (None, None, None)
    if oid_tag != 0x06 or oid != bytes.fromhex("2b6570"):  # 1.3.101.112, Ed25519
        raise ValueError("not an Ed25519 key")
    tag, wrapped, pos = _der(body, pos)
    inner_tag, seed, inner_end = _der(wrapped, 0) if tag == 0x04 else (None, b"", 0)
    if inner_tag != 0x04 or len(seed) != 32 or inner_end != len(wrapped):
        raise ValueError("bad Ed25519 private key")
    public = None
    while pos < len(body):
        tag, value, pos = _der(body, pos)
        if tag == 0x81:  # [1] publicKey
            if len(value) != 33 or value[0] != 0:
                raise ValueError("bad public key")
            public = value[1:]
        elif tag != 0xA0:  # [0] attributes are allowed and ignored
            raise ValueError("unexpected data in PKCS#8")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    if public is not None and public != _raw_public(key):
        raise ValueError("the public key in the file does not match the private key")
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    """Reads the PKCS#8 PEM private key that `dbond keygen` writes.

    dbond writes PKCS#8 version 1 (the private key alone), which `cryptography`
    reads directly. Version 2 (RFC 5958: the public key follows the private key),
    as other tools may write it, is refused by some libraries (cryptography 50,
    OpenSSL 3.0) as "extra data"; such files are read with the small parser
    above, which also checks that public key against the private key."""
    try:
        pem = path.read_bytes()
    except OSError as e:
        fail(f"cannot read the private key {path}: {e}")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        try:
            text = pem.decode("ascii")
            begin, end = "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----"
            if begin not in text or end not in text:
                raise ValueError("not a PEM private key")
            b64 = text.split(begin, 1)[1].split(end, 1)[0]
            key = ed25519_from_pkcs8(base64.b64decode("".join(b64.split()), validate=True))
        except (ValueError, UnicodeDecodeError, binascii.Error) as e:
            fail(f"cannot read the private key {path}: {e}")
    if not isinstance(key, Ed25519PrivateKey):
        fail(f"{path} is not an Ed25519 private key")
    return key


def key_id(key: Ed25519PrivateKey) -> str:
    """Lowercase hex of the first 8 bytes of SHA-256(32-byte public key)."""
    return hashlib.sha256(_raw_public(key)).digest()[:8].hex()


def sign_request(key, origin, command, ledger):
    """Wraps a Command into a SignedRequest for the ledger named by origin."""
    issued_at = Timestamp(seconds=int(time.time()))
    payload = ledger.RequestPayload(
        ledger_origin=origin,
        issued_at=issued_at,
        nonce=os.urandom(16),
        command=command,
    ).SerializeToString()
    signature = key.sign(REQUEST_CONTEXT + b"\x00" + payload)
    return ledger.SignedRequest(payload=payload, key_id=key_id(key), signature=signature)


def list_services(channel):
    """The server's services, through gRPC server reflection v1alpha."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = []
    for response in stub.ServerReflectionInfo(iter([request]), timeout=10):
        names.extend(s.name for s in response.list_services_response.service)
    return sorted(names)


def submit_batch(args, key, origin, order, pb, grpc_pb, commands, ledger, channel):
    """Sends args.count subscriptions in one SubmitBatch call: each request signed on
    its own, under an envelope (a SubmitBatch command counting them) signed by the
    same key. Prints one line per request: its entry, or why it was refused."""
    requests = [
        sign_request(
            key,
            origin,
            order(
                f"{args.investor}-{i}",
                f"{args.idempotency_key}-{i}" if args.idempotency_key else None,
            ),
            ledger,
        )
        for i in range(args.count)
    ]
    envelope = sign_request(
        key, origin, commands.Command(submit_batch=commands.SubmitBatch(request_count=len(requests))), ledger
    )
    print(f"signing as key {envelope.key_id}")
    try:
        reply = grpc_pb.BatchServiceStub(channel).SubmitBatch(
            pb.SubmitBatchRequest(signed=envelope, requests=requests), timeout=30
        )
    except grpc.RpcError as e:
        fail(f"SubmitBatch refused: {e.code().name}: {e.details()}")
    for i, result in enumerate(reply.results):
        if result.HasField("receipt"):
            r = result.receipt
            print(f"request {i}: entry {r.index}, entry hash {r.entry_hash.hex()}, tree size {r.tree_size}")
        else:
            print(f"request {i}: refused {result.error.code_name}: {result.error.message}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:50051", help="host:port or http://host:port")
    parser.add_argument("--key", required=True, type=Path, help="the bank's private key (PKCS#8 PEM)")
    parser.add_argument("--series", required=True, help="series id, e.g. AZ-2031-USD")
    parser.add_argument("--investor", required=True, help="pseudonymous investor reference")
    parser.add_argument("--units", required=True, help="whole units, e.g. 10")
    parser.add_argument("--category", default="citizen_abroad", choices=CATEGORIES)
    parser.add_argument("--country", default="DE", help="ISO 3166-1 alpha-2 country of residence")
    parser.add_argument("--idempotency-key", default=None, help="default: a fresh UUID")
    parser.add_argument(
        "--count",
        type=int,
        default=1,
        help="subscriptions to send; more than one go in one SubmitBatch call, "
        "for investors INVESTOR-0, INVESTOR-1, ... (each request signed on its own)",
    )
    parser.add_argument("--proto", type=Path, default=PROTO_ROOT, help="the proto/ folder")
    parser.add_argument(
        "--gen-dir", type=Path, default=None, help="keep generated stubs here (default: a temporary folder)"
    )
    args = parser.parse_args()

    target = args.server.split("://", 1)[-1].rstrip("/")
    key = load_key(args.key)

    with tempfile.TemporaryDirectory(prefix="dbond-stubs-") as tmp:
        out_dir = args.gen_dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        pb, grpc_pb, commands, ledger, types = generate_stubs(args.proto, out_dir)

        with grpc.insecure_channel(target) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=10)
            except grpc.FutureTimeoutError:
                fail(f"cannot connect to {target} (is `dbond serve` running there?)")

            print("services (gRPC reflection v1alpha):")
            for name in list_services(channel):
                print(f"  {name}")

            # The one unauthenticated RPC: the ledger's origin, which every signed
            # request must name.
            info = grpc_pb.LedgerServiceStub(channel).GetLedgerInfo(pb.GetLedgerInfoRequest(), timeout=10)
            print(f"ledger origin {info.origin!r}, {info.tree_size} entries")

            category = types.DiasporaCategory.Value("DIASPORA_CATEGORY_" + args.category.upper())

            def order(investor, idempotency_key):
                return commands.Command(
                    submit_subscription=commands.SubmitSubscription(
                        series_id=args.series,
                        investor_ref=investor,
                        category=category,
                        country=args.country,
                        units=args.units,
                        idempotency_key=idempotency_key or str(uuid.uuid4()),
                    )
                )

            if args.count > 1:
                submit_batch(args, key, info.origin, order, pb, grpc_pb, commands, ledger, channel)
                return
            command = order(args.investor, args.idempotency_key)
            signed = sign_request(key, info.origin, command, ledger)
            print(f"signing as key {signed.key_id}")
            try:
                reply = grpc_pb.BankServiceStub(channel).SubmitSubscription(
                    pb.SubmitSubscriptionRequest(signed=signed), timeout=30
                )
            except grpc.RpcError as e:
                fail(f"SubmitSubscription refused: {e.code().name}: {e.details()}")

    r, s = reply.receipt, reply.subscription
    print(f"receipt: entry {r.index}, entry hash {r.entry_hash.hex()}, tree size {r.tree_size}")
    if reply.idempotent_replay:
        print("(a repeat of an earlier request: nothing new was written)")
    print(
        f"subscription {s.subscription_id}: series {s.series_id}, investor {s.investor_ref}, "
        f"bank {s.bank_id}, {s.units} units, {types.DiasporaCategory.Name(s.category)}, "
        f"{s.country}, status {types.SubscriptionStatus.Name(s.status)}"
    )


if __name__ == "__main__":
    main()

"""Regenerate tests/vectors/alerting.jsonl: the alert function's shared test vectors.

    .venv/bin/python -m tests.vectors.generate

Cases: payloads drawn from the contract (tests/contract_strategies.py: valid reports in every
encoding, near misses of every rule), the reader's corner cases found while building the Java
implementation (times, UUID forms, literals, numbers, JSON oddities), and bytes that are not JSON.
The expected answers are the Python implementation's (tests/alerting_vectors.py): the reference.
"""

from __future__ import annotations

import base64
import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peacewatch.platform.contract import MAX_REPORT_BYTES, Report
from tests.alerting_vectors import VECTORS, python_answer
from tests.contract_strategies import near_misses, payloads, report_of_bytes

_BASE = {
    "report_id": "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "drone_id": "north-d0001",
    "ts": "2026-11-02T08:30:00+01:00",
    "lat": 48.85,
    "lon": 2.35,
    "battery_pct": 77.5,
    "citizens": [
        {"citizen_id": "c1", "name": 'Ada "Lovelace"\n\\ \u00e9 \U0001f6a8', "peacescore": 3},
        {"citizen_id": "c2", "name": "Bo", "peacescore": 90},
        {"citizen_id": "c1", "name": "Ada again", "peacescore": 1},
    ],
    "words": ["peace", "\u00fcber"],
}

_TIMES = [
    "2024-01-01T00:00Z",
    "2024-01-01t00:00:00z",
    "2024-01-01 00:00:00+01:00",
    "2024-01-01_00:00:00Z",
    "2024-01-01T00:00:00+0100",
    "2024-01-01T00:00:00+01",
    "2024-01-01T00:00:00.1234567Z",
    "2024-01-01T00:00:00,5Z",
    "2024-01-01T00:00:00.1234567890123456789Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T23:59:60Z",
    "2024-01-01",
    "2024-01-01T00:00:00",
    "2024-01-01T00:00:00-00:00",
    "2024-01-01T00:00:00+23:59",
    "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00.Z",
    "2024-1-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:30:00-01:00",
    "0000-01-01T00:00:00Z",
    "0000-12-31T23:00:00-02:00",
    "2024-02-29T12:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T00:00:00 Z",
    "2024-01-01T00:00:00+01:00 ",
    "2024-01-01T00Z",
    "2024-01-01T00:00:00+01:0",
    "2024-01-01T00:00:00+1:00",
    "99999-01-01T00:00:00Z",
    "-2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00+00:60",
    "2024-01-01T00:00.5Z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "1700000000",
    "1700000000.5",
    "-5",
    "17000000000000",
    "1e9",
    " 1700000000",
    "+1700000000",
    "20000000001",
    "1700000000.",
    "1700000000000000000000",
    "253402300800",
    "-62135596801",
    "999999999999999",
    "",
    "Z",
]
_UUIDS = [
    "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f",
    "{6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f}",
    "urn:uuid:6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F",
    "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f ",
    "URN:UUID:6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "urn:uuid:6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f",
    "{6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f}",
    "abcdefghijklmnop",
    "6f1c2d3e-4a5b4c6d-8e9f-0a1b2c3d4e5f",
    "6f1c2d3e4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5g",
    "",
    "00000000-0000-0000-0000-000000000000",
]
_FIELD_VALUES = {
    "schema_version": [1, 1.0, True, False, "1", 1.5, 2, 0, None],
    "lat": [90, -90, 90.0000001, "1", True, None, 1e308, -0.0, 0],
    "battery_pct": [0, 100, 100.5, -1e-9],
    "drone_id": ["d1\n", "d 1", "", "x" * 64, "x" * 65, "\u00e9", 12, "a:b.c_d-e"],
    "words": [None, [], ["x" * 100], ["x" * 101], ["\U0001f6a8" * 100], [1], "word"],
    "citizens": [
        None,
        [],
        [{"citizen_id": "c", "name": "n", "peacescore": 5.0}],
        [{"citizen_id": "c", "name": "n", "peacescore": 10**30}],
        [
            {"citizen_id": "c", "name": "n", "peacescore": 19},
            {"citizen_id": "d", "name": "m", "peacescore": 20},
        ],
        [{"citizen_id": "c", "name": "n", "peacescore": -1}],
        [{"citizen_id": "c", "name": "n"}],
        [{"citizen_id": "c", "name": "", "peacescore": 1}],
        [{"citizen_id": "c", "name": "n", "peacescore": 1, "x": 1}],
        [{"citizen_id": "c", "name": "\U0001f6a8" * 200, "peacescore": 0}],
        [7],
    ],
}


def _doc(**changes: object) -> bytes:
    doc = dict(_BASE)
    doc.update(changes)
    return json.dumps(doc).encode()


def _raw_text_cases() -> list[bytes]:
    text = json.dumps(_BASE)
    lat = '"lat": 48.85'
    swaps = [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-0",
        "1E1",
        "1.",
        "+1",
        "Infinit",
        "01",
        "4.885e1",
        "-1e400",
        "0.000005",
        "1" + "0" * 400,
    ]
    out = [text.replace(lat, f'"lat": {s}').encode() for s in swaps]
    out += [
        b"",
        b"{",
        b"[]",
        b"null",
        b"42",
        b'"report"',
        b"\xef\xbb\xbf" + text.encode(),
        text.encode() + b" x",
        text.encode() + b"\n",
        b" \n\t" + text.encode(),
        text.encode() + b"{}",
        text[:-1].encode() + b', "lat": 95}',
        text[:-1].encode() + b', "lat": 5}',
        text.replace('"Bo"', '"\\ud800"').encode(),
        text.replace('"Bo"', '"\\udc00x"').encode(),
        text.replace('"Bo"', '"\\ud83d\\udea8"').encode(),
        text.replace('"Bo"', '"B\\u0000o"').encode(),
        text.replace('"Bo"', '"B\x01o"').encode(),
        text.encode().replace(b"Bo", b"B\xff"),
        text.encode("utf-16"),
        text.replace('"Bo"', "'Bo'").encode(),
        text.replace(", ", ", // c\n").encode(),
        b"[" * 300 + b"]" * 300,
        json.dumps(
            {**_BASE, "citizens": [{"citizen_id": "c", "name": "n", "peacescore": 1}] * 1001}
        ).encode(),
    ]
    return out


def _handpicked() -> list[bytes]:
    out = [_doc(ts=t) for t in _TIMES] + [_doc(report_id=u) for u in _UUIDS]
    out += [_doc(**{k: v}) for k, values in _FIELD_VALUES.items() for v in values]
    for key in (
        "report_id",
        "drone_id",
        "ts",
        "lat",
        "lon",
        "battery_pct",
        "schema_version",
        "citizens",
        "words",
    ):
        doc = dict(_BASE)
        doc.pop(key, None)
        out.append(json.dumps(doc).encode())
    out.append(_doc(extra=1))
    out.append(json.dumps({"extra": 1, **_BASE}).encode())
    return out + _raw_text_cases()


def _drawn(strategy: st.SearchStrategy[bytes], n: int) -> list[bytes]:
    found: list[bytes] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(payload: bytes) -> None:
        if len(payload) <= 20_000:  # the file stays small; the live differential test goes bigger
            found.append(payload)

    collect()
    return found


def main() -> None:
    cases = _handpicked()
    cases += _drawn(payloads(Report), 400)
    cases += _drawn(near_misses(Report).map(lambda m: m.payload), 400)
    cases += [report_of_bytes(MAX_REPORT_BYTES + d) for d in (-1, 0, 1, 2)]  # the bound on a message's bytes
    rng = random.Random(14)
    lines = []
    for payload in cases:
        threshold = rng.choice([0, 1, 20, 20, 20, 50, 101])
        tenant = rng.choice(["north-precinct", "south-precinct"])
        expected = python_answer(payload, threshold=threshold, tenant=tenant)
        lines.append(json.dumps({
            "payload_b64": base64.b64encode(payload).decode(), "threshold": threshold, "tenant": tenant,
            "expected": expected,
        }, ensure_ascii=True, sort_keys=True))  # fmt: skip
    VECTORS.write_text("\n".join(lines) + "\n")
    valid = sum(1 for line in lines if '"ok": true' in line)
    print(f"{len(lines)} vectors ({valid} valid, {len(lines) - valid} refused) -> {VECTORS}")


if __name__ == "__main__":
    main()

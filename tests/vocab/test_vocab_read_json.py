"""vocab.parse.read_json decodes with one JSONDecoder made once (issue 18) and answers exactly as
``json.loads(text, parse_constant=...)`` did: the same value, or the same refusal in the same words,
for every kind of text a hostile document can be (docs/threat-model.md T7)."""

from __future__ import annotations

import json

import pytest

from hubnet.vocab.errors import DocumentError
from hubnet.vocab.parse import _reject_constant, check_shape, read_json


def as_before(data):
    """read_json as written with json.loads."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"the document is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                code="bad_encoding") from None
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise DocumentError("the JSON is nested too deeply", code="too_deep") from None
    except (ValueError, MemoryError) as exc:
        raise DocumentError(f"the document is not valid JSON: {exc}", code="invalid_document") from None
    check_shape(value)
    return value


TEXTS = ['{"name": "x"}', '[{"a": 1.5e3, "b": [true, false, null]}]', '{"n": NaN}', '{"n": Infinity}',
         '{"n": -Infinity}', '{"n": 1e999}', '\ufeff{"a": 1}', '\ufeff\ufeff{"a": 1}', '{"a": 1} x', '{"a": 1,}',
         "", "   ", "{", '{"a": "\\ud800"}', '{"a": "\x00"}', '{"a": 1}\n', '"just a string"', "42",
         "[" * 100_000 + "]" * 100_000, '{"a": 01}', "{'a': 1}", '{"a": 1, "a": 2}']
CASES = [(t, kind) for t in TEXTS for kind in ("str", "bytes")] + [
    (b"\xef\xbb\xbf\xef\xbb\xbf{}", "raw"), (b"\xff\xfe{}", "raw"), (b'{"a": "\xe9"}', "raw")]


def _outcome(fn, data):
    try:
        value = fn(data)
    except DocumentError as exc:
        return ("refused", exc.code, exc.message)
    return ("read", json.dumps(value) if value is not None else None)


@pytest.mark.parametrize("text, kind", CASES, ids=[f"{kind}:{text[:20]!r}" for text, kind in CASES])
def test_read_json_answers_as_json_loads_did(text, kind):
    data = text.encode("utf-8", "surrogatepass") if kind == "bytes" else text
    assert _outcome(read_json, data) == _outcome(as_before, data)


def test_the_family_reaches_every_answer():
    outcomes = {_outcome(as_before, t)[:2] for t in TEXTS}
    assert {("refused", "invalid_document"), ("refused", "too_deep")} <= outcomes
    assert any(o[0] == "read" for o in outcomes)

"""``ask --server``: ``POST /v1/ask`` on a running ``funcpipe-rag serve``.

Returns the same document ``ask --json`` prints locally, or ``Err`` as ``_remote`` maps them.
With ``on_delta``, the answer is read as Server-Sent Events and each text delta is handed to
``on_delta`` as it arrives; an ``error`` event -> ``Err`` with ``ctx["partial"]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag._remote import _call, _headers


def _body(
    question: str, k: int, source: tuple[str, ...], where: tuple[tuple[str, str], ...]
) -> dict[str, object]:
    fields: dict[str, list[str]] = {}
    for name, value in where:
        fields.setdefault(name, []).append(value)
    return {"question": question, "k": k, "source": list(source), "where": fields}


def _failed(server: str, status: int, text: str, reason: str) -> Err[ErrInfo]:
    try:
        doc: object = json.loads(text)
    except ValueError:
        doc = None
    got = doc if isinstance(doc, dict) else {}
    code = str(got.get("code", codes.SERVICE_SPECIFIC))
    stage = "store" if status >= 500 else "usage"
    return Err(ErrInfo(code, f"server {server}: {got.get('msg', reason)}", stage))


def ask(
    server: str,
    question: str,
    k: int,
    *,
    source: tuple[str, ...] = (),
    where: tuple[tuple[str, str], ...] = (),
    extractive: bool = False,
    verify_quotes: bool = False,
    on_delta: Callable[[str], None] | None = None,
) -> Result[object, ErrInfo]:
    """The answer document (streamed when ``on_delta`` is given)."""
    body = {**_body(question, k, source, where), "extractive": extractive}
    if verify_quotes:
        body["verify"] = "quotes"
    if on_delta is None:
        return _call("POST", server, "/v1/ask", json=body)
    import httpx  # loaded only when a server is used

    url = server.rstrip("/") + "/v1/ask"
    headers = {**_headers(), "accept": "text/event-stream"}
    event = ""
    try:
        with httpx.stream(
            "POST", url, json={**body, "stream": True}, headers=headers, timeout=120
        ) as r:
            if r.status_code >= 400:
                r.read()
                return _failed(server, r.status_code, r.text, r.reason_phrase)
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    continue
                if not line.startswith("data:"):
                    continue
                try:
                    data = json.loads(line[5:])
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if event == "delta":
                    on_delta(str(data.get("text", "")))
                elif event == "done":
                    return Ok(data)
                elif event == "error":
                    msg = f"server {server}: {data.get('msg', 'the answer failed')}"
                    code = str(data.get("code", codes.SERVICE_SPECIFIC))
                    return Err(ErrInfo(code, msg, "chat", ctx={"partial": data.get("partial")}))
    except httpx.HTTPError as exc:
        return Err(ErrInfo(codes.NETWORK, f"cannot reach the server at {server}: {exc}", "store"))
    return Err(ErrInfo(codes.NETWORK, f"server {server}: the answer stream was cut", "store"))

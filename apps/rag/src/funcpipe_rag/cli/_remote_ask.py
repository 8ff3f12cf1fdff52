"""``ask --server``: ``POST /v1/ask`` on a running ``funcpipe-rag serve``.

Returns the same document ``ask --json`` prints locally, or ``Err`` as ``ServerClient.call`` maps
them (the server's class kept in ``ctx["class"]``).
With ``on_delta``, the answer is read as Server-Sent Events and each text delta is handed to
``on_delta`` as it arrives; an ``error`` event -> ``Err`` with ``ctx["partial"]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.app import Stage

from ._client import ServerClient


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
    ctx: dict[str, object] = {"status": status}
    if isinstance(got.get("class"), str):
        ctx["class"] = got["class"]
    code = str(got.get("code", codes.SERVICE_SPECIFIC))
    msg = f"server {server}: {got.get('msg', reason)}"
    return Err(ErrInfo(code, msg, Stage.SERVER, ctx=ctx))


def ask(
    server: ServerClient,
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
        return server.call("POST", "/v1/ask", json=body)
    import httpx  # loaded only when a server is used

    url = server.url + "/v1/ask"
    headers = {**server._headers(), "accept": "text/event-stream"}
    event = ""
    try:
        with httpx.stream(
            "POST", url, json={**body, "stream": True}, headers=headers, timeout=120
        ) as r:
            if r.status_code >= 400:
                r.read()
                return _failed(server.url, r.status_code, r.text, r.reason_phrase)
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
                    msg = f"server {server.url}: {data.get('msg', 'the answer failed')}"
                    code = str(data.get("code", codes.SERVICE_SPECIFIC))
                    ctx = {"partial": data.get("partial"), "class": data.get("class")}
                    return Err(ErrInfo(code, msg, Stage.SERVER, ctx=ctx))
    except httpx.HTTPError as exc:
        msg = f"cannot reach the server at {server.url}: {exc}"
        return Err(ErrInfo(codes.NETWORK, msg, Stage.SERVER))
    msg = f"server {server.url}: the answer stream was cut"
    return Err(ErrInfo(codes.NETWORK, msg, Stage.SERVER))

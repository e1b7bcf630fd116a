"""A scripted OpenAI-compatible streaming server on loopback, for what a real server will not do on demand.

``python tests/fakes/sse_server.py`` listens on a free 127.0.0.1 port, prints ``PORT <n>`` and serves
until its stdin closes. The scenario is the first path segment: ``http://127.0.0.1:P/<scenario>/v1``
(``GET .../models``, ``POST .../chat/completions`` and ``.../completions``), with parameters after
dashes: ``steady-gap20-n50-k1-usagechunk``:

- ``gapMS`` time between chunks (ms, float), ``nN`` content chunks, ``kK`` tokens per chunk;
- ``usagechunk`` (usage in every chunk, as vLLM's continuous_usage_stats), ``usagefinal`` (in the
  last chunk, as ``transformers serve``), ``usagenone``; ``nodone`` (no ``data: [DONE]``);
- scenarios: ``steady`` (the above), ``status500``, ``status401`` (any route without the bearer
  key ``secret``), ``cut`` (the connection is dropped after half the chunks, mid-event),
  ``stall`` (half the chunks, then silence), ``html`` (a 200 text/html body), ``garbage`` (an SSE
  stream whose data is not JSON), ``nofinish`` (chunks, then a clean end without finish_reason),
  ``notopenai`` (``/models`` answers 404); ``okN``: the first N requests of the scenario stream
  normally (so a client's probe passes and the failures come during the session).

Each content chunk's text is ``<send time ns>;`` (``time.perf_counter_ns()`` right before the
write, the same CLOCK_MONOTONIC as the client's), so a test can compare arrivals with sends.
Chunks are written by hand as HTTP/1.1 chunked transfer encoding (one HTTP chunk per SSE event),
on asyncio streams: hundreds of concurrent streams cost little.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time

MODEL = "fake-model"
KEY = "secret"
CHAT_CHUNK = (b'data: {"id":"x","object":"chunk","model":"fake-model","choices":[{"index":0,"delta":'
              b'{"content":"%d;"},"finish_reason":null}],"usage":{"prompt_tokens":%d,"completion_tokens":%d}}\n\n')
POSTS: dict[str, int] = {}
"""Completion requests seen per scenario."""


def _options(scenario: str) -> dict[str, object]:
    name, *parts = scenario.split("-")
    options: dict[str, object] = {"name": name, "gap": 10.0, "n": 20, "k": 1, "usage": "chunk", "done": True}
    for part in parts:
        if match := re.fullmatch(r"gap([\d.]+)", part):
            options["gap"] = float(match[1])
        elif match := re.fullmatch(r"n(\d+)", part):
            options["n"] = int(match[1])
        elif match := re.fullmatch(r"k(\d+)", part):
            options["k"] = int(match[1])
        elif part.startswith("usage"):
            options["usage"] = part[5:]
        elif part == "nodone":
            options["done"] = False
        elif match := re.fullmatch(r"ok(\d+)", part):
            options["ok"] = int(match[1])
    return options


def _chunk(text: str | None, finish: str | None, usage: dict[str, int] | None, chat: bool) -> bytes:
    if chat:
        delta = {"content": text} if text is not None else {}
        choice: dict[str, object] = {"index": 0, "delta": delta, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text or "", "finish_reason": finish}
    body: dict[str, object] = {"id": "x", "object": "chunk", "model": MODEL, "choices": [choice]}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def _write_chunk(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
    await writer.drain()


def _head(status: int, content_type: str, chunked: bool = True, length: int = 0) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}.get(status, "X")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{framing}\r\n"
            "Server: tpstui-fake-sse\r\n\r\n").encode()  # fmt: skip


async def _plain(writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes) -> None:
    writer.write(_head(status, content_type, chunked=False, length=len(body)) + body)
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, options: dict[str, object], prompt_tokens: int, chat: bool) -> None:
    name, gap, n, k = options["name"], float(options["gap"]), int(options["n"]), int(options["k"])  # type: ignore[call-overload]
    usage_mode, loop = options["usage"], asyncio.get_running_loop()
    writer.write(_head(200, "text/event-stream; charset=utf-8"))
    if chat:
        await _write_chunk(writer, b'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n')
    stop_after = n // 2 if name in ("cut", "stall") else n
    start = loop.time()
    for i in range(stop_after):
        delay = start + (i + 1) * gap / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": (i + 1) * k} if usage_mode == "chunk" else None
        if name == "garbage":
            await _write_chunk(writer, b"data: this is not json\n\n")
            continue
        if chat and usage is not None:  # the common case, formatted without json.dumps (benchmarks)
            await _write_chunk(writer, CHAT_CHUNK % (time.perf_counter_ns(), prompt_tokens, (i + 1) * k))
            continue
        text = f"{time.perf_counter_ns()};"
        await _write_chunk(writer, _chunk(text, None, usage, chat))
    if name == "cut":
        writer.write(b"40\r\ndata: {\"choices\": [{\"index\": 0, \"de")  # half an HTTP chunk, half an event
        await writer.drain()
        writer.transport.abort()
        return
    if name == "stall":
        await asyncio.sleep(3600)
    final_usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n * k} if usage_mode != "none" else None
    if name != "nofinish":
        await _write_chunk(writer, _chunk(None, "length", final_usage, chat))
    if options["done"]:
        await _write_chunk(writer, b"data: [DONE]\n\n")
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                return
            method, path, _ = request_line.decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            scenario, _, route = path.lstrip("/").partition("/")
            options = _options(scenario)
            if options["name"] == "status401" and headers.get("authorization") != f"Bearer {KEY}":
                await _plain(writer, 401, "application/json", b'{"error": {"message": "invalid API key"}}')
            elif route == "v1/models" and method == "GET":
                if options["name"] == "notopenai":
                    await _plain(writer, 404, "text/html", b"<html>no</html>")
                else:
                    await _plain(writer, 200, "application/json",
                                 json.dumps({"object": "list", "data": [{"id": MODEL}]}).encode())  # fmt: skip
            elif route in ("v1/chat/completions", "v1/completions") and method == "POST":
                request = json.loads(body or b"{}")
                POSTS[scenario] = POSTS.get(scenario, 0) + 1
                if POSTS[scenario] <= int(options.get("ok", 0)):  # type: ignore[call-overload]
                    options["name"] = "steady"
                if request.get("model") != MODEL:
                    await _plain(writer, 404, "application/json", b'{"error": "no such model"}')
                elif options["name"] == "status500":
                    await _plain(writer, 500, "application/json", b'{"error": "boom"}')
                elif options["name"] == "html":
                    await _plain(writer, 200, "text/html", b"<html>hello</html>")
                else:
                    await _stream(writer, options, 7, chat=route.endswith("chat/completions"))
            else:
                await _plain(writer, 404, "text/plain", b"not found")
    except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
        return
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stopped.set)), daemon=True).start()
    async with server:
        await stopped.wait()


if __name__ == "__main__":
    asyncio.run(_main())

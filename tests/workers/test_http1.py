"""The lean HTTP/1.1 transport against a scripted raw server: framing, reuse, failures."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import httpx
import pytest

from workers.http1 import Http1Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Head and body of one request (Content-Length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    """A server calling `handler(reader, writer, connection_number)`; returns its URL."""
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            await handler(reader, writer, len(connections))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", connections


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=Http1Transport(), timeout=httpx.Timeout(2.0, read=0.5))


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_content_length_bodies_reuse_one_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            request = await read_request(reader)
            body = request.split(b"\r\n\r\n", 1)[1]
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    async def main() -> None:
        server, url, connections = await serve(handler)
        async with server, client() as http:
            for text in (b"one", b"two", b"three"):
                response = await http.post(url + "/echo?x=1", content=text)
                assert (response.status_code, response.content) == (200, text)
        assert len(connections) == 1

    run(main())


def test_chunked_body_with_extensions_and_trailers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: y\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def main() -> None:
        server, url, _ = await serve(handler)
        async with server, client() as http:
            async with http.stream("POST", url, content=b"{}") as response:
                assert b"".join([c async for c in response.aiter_bytes()]) == b"hello world"

    run(main())


def test_close_delimited_body_and_gzip() -> None:
    packed = gzip.compress(b"squeezed")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n" + packed)
        await writer.drain()

    async def main() -> None:
        server, url, _ = await serve(handler)
        async with server, client() as http:
            response = await http.post(url, content=b"x")
            assert response.content == b"squeezed"

    run(main())


def test_a_keep_alive_connection_closed_by_the_server_is_retried_once() -> None:
    seen: list[tuple[int, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await read_request(reader)
        seen.append((n, request.split(b"\r\n\r\n", 1)[1]))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        if n == 1:
            # The idle connection is still open when the client reuses it (no EOF yet, so the
            # pool's `usable()` check passes); the server reads the next request and then drops
            # the connection without a status byte, as an upstream does at its idle timeout.
            request = await read_request(reader)
            seen.append((n, request.split(b"\r\n\r\n", 1)[1]))
            return
        await reader.read()

    async def main() -> None:
        server, url, connections = await serve(handler)
        async with server, client() as http:
            first = await http.post(url, content=b"a")
            assert (first.status_code, first.content) == (200, b"ok")
            second = await http.post(url, content=b"b")
            assert (second.status_code, second.content) == (200, b"ok")
        # "b" reached connection 1 (the stale one) and was sent again, once, on connection 2
        assert seen == [(1, b"a"), (1, b"b"), (2, b"b")]
        assert len(connections) == 2

    run(main())


def test_a_request_that_also_finds_its_fresh_connection_closed_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await read_request(reader)
        if n == 1 and request.endswith(b"a"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            await read_request(reader)
        # every later connection closes without answering: the retry is not repeated

    async def main() -> None:
        server, url, connections = await serve(handler)
        async with server, client() as http:
            assert (await http.post(url, content=b"a")).content == b"ok"
            with pytest.raises(httpx.RemoteProtocolError, match="without a response"):
                await http.post(url, content=b"b")
        assert len(connections) == 2

    run(main())


def test_silence_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        await asyncio.sleep(2)

    async def main() -> None:
        server, url, _ = await serve(handler)
        async with server, client() as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post(url, content=b"x")

    run(main())


def test_refused_connection_is_a_connect_error() -> None:
    async def main() -> None:
        server, url, _ = await serve(lambda r, w, n: asyncio.sleep(0))
        server.close()
        await server.wait_closed()
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(url, content=b"x")

    run(main())


def test_body_cut_short_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()

    async def main() -> None:
        server, url, _ = await serve(handler)
        async with server, client() as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(url, content=b"x")

    run(main())


def test_request_head_carries_method_path_host_and_length() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        server, url, _ = await serve(handler)
        async with server, client() as http:
            response = await http.post(url + "/v1/messages?beta=true", content=b'{"a":1}',
                                       headers={"x-api-key": "k"})
            assert response.status_code == 204 and response.content == b""
        head, body = seen[0].split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /v1/messages?beta=true HTTP/1.1"
        assert b"x-api-key: k" in lines and b"content-length: 7" in [line.lower() for line in lines]
        assert any(line.lower().startswith(b"host: 127.0.0.1:") for line in lines)
        assert body == b'{"a":1}'

    run(main())

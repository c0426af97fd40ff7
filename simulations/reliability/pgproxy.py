"""A TCP proxy in front of PostgreSQL that the fault runner can take down and bring back.

Run as its own process (``python -m simulations.reliability.pgproxy LISTEN HOST PORT``):
SIGUSR1 takes it down (the listening socket is closed, so new connections are refused, and
every open connection is reset: PostgreSQL "goes away" for the services); SIGUSR2 brings it
back on the same port. The machine's PostgreSQL itself is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


class Proxy:
    def __init__(self, listen_port: int, host: str, port: int) -> None:
        self.listen_port = listen_port
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.listen_port, reuse_address=True
            )
        print("up", flush=True)

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.open):
            transport = writer.transport
            transport.abort()
        self.open.clear()
        print("down", flush=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self.open.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self.open.discard(w)
                w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    writer.transport.abort()


async def main(listen_port: int, host: str, port: int) -> None:
    proxy = Proxy(listen_port, host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(proxy.down()))
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(proxy.up()))
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await proxy.up()
    await stop.wait()
    await proxy.down()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))

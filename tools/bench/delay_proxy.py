#!/usr/bin/python3
"""delay_proxy: a TCP proxy that holds every byte for DELAY_MS in each direction, preserving
order and throughput, the way netem's delay would (for kernels without sch_netem). Used by
coldstart-bench when the C++ one (delay_proxy.cc, build/tools/imgfs-delay-proxy) is not built;
one process serves any number of connections.

  delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS    (listens on 127.0.0.1)
"""

import asyncio
import sys
import time


async def pump(reader, writer, delay):
    """Copies READER to WRITER, each chunk written DELAY seconds after it was read."""
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except OSError:
            pass

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(262144)
            await queue.put((time.monotonic() + delay, data or None))
            if not data:
                break
    except OSError:
        await queue.put((0, None))
    await sender


async def main():
    listen, host, port, delay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), \
        float(sys.argv[4]) / 1000

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, server_writer, delay),
                             pump(server_reader, client_writer, delay),
                             return_exceptions=True)
        for w in (client_writer, server_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

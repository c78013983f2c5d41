#!/usr/bin/env python3
"""A small DNS over QUIC (RFC 9250) client for Hanse's tests, built on aioquic.

It is only a transport: the test composes the DNS queries and reads the
answers. Each query (hex on the command line) goes on its own
client-initiated bidirectional stream: a two-octet length, the message,
then FIN. All queries are sent at once, on one connection, so they are in
flight concurrently.

Output, one event per line (hex is lower case):
  connected ALPN retries=N      N: Retry packets the server sent first
  response STREAM_ID HEX        the answer, without its length prefix
  reset STREAM_ID ERROR_CODE    the server reset a stream
  closed ERROR_CODE REASON      the connection was closed (REASON may be empty)
  timeout STREAM_ID             no answer in time
  handshake-failed REASON       the connection could not be set up

--hang first opens a stream that carries one octet of a length and never
ends; with --wait-reset the client also waits (up to --timeout) for the
server to give up on that stream and reports it as `reset`.

Exit status: 0 when every query was answered, 1 otherwise, 2 when the
handshake failed.
"""

import argparse
import asyncio
import ssl
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamDataReceived, StreamReset


class DoqProtocol(QuicConnectionProtocol):
    def __init__(self, *arguments, **keywords):
        super().__init__(*arguments, **keywords)
        self.received = {}
        self.waiters = {}
        self.terminated = None

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            data = self.received.get(event.stream_id, b"") + event.data
            self.received[event.stream_id] = data
            if event.end_stream:
                self.settle(event.stream_id, ("response", data))
        elif isinstance(event, StreamReset):
            self.settle(event.stream_id, ("reset", event.error_code))
        elif isinstance(event, ConnectionTerminated):
            self.terminated = (event.error_code, event.reason_phrase)
            for stream_id in list(self.waiters):
                self.settle(stream_id, ("closed", event.error_code))

    def settle(self, stream_id, outcome):
        waiter = self.waiters.get(stream_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def open_stream(self, data, end):
        stream_id = self._quic.get_next_available_stream_id()
        self.waiters[stream_id] = asyncio.get_running_loop().create_future()
        self._quic.send_stream_data(stream_id, data, end_stream=end)
        self.transmit()
        return stream_id


def say(*words):
    print(*words, flush=True)


async def run(arguments):
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=[arguments.alpn],
        server_name=arguments.sni,
        idle_timeout=arguments.timeout + 5,
    )
    configuration.verify_mode = ssl.CERT_REQUIRED
    configuration.load_verify_locations(cafile=arguments.ca)
    host, port = arguments.server.rsplit(":", 1)
    queries = [bytes.fromhex(text) for text in arguments.query]
    try:
        async with connect(
            host,
            int(port),
            configuration=configuration,
            create_protocol=DoqProtocol,
            wait_connected=True,
        ) as client:
            say(
                "connected",
                client._quic.tls.alpn_negotiated,
                "retries=%d" % client._quic._retry_count,
            )
            hung = None
            if arguments.hang:
                hung = client.open_stream(b"\x00", end=False)
            streams = [
                client.open_stream(len(query).to_bytes(2, "big") + query, end=True)
                for query in queries
            ]
            answered = 0
            for stream_id in streams:
                try:
                    kind, value = await asyncio.wait_for(
                        asyncio.shield(client.waiters[stream_id]), arguments.timeout
                    )
                except asyncio.TimeoutError:
                    say("timeout", stream_id)
                    continue
                if kind == "response":
                    length = int.from_bytes(value[:2], "big")
                    if length != len(value) - 2:
                        say("bad-length", stream_id, length, len(value) - 2)
                        continue
                    say("response", stream_id, value[2:].hex())
                    answered += 1
                elif kind == "reset":
                    say("reset", stream_id, value)
            if hung is not None and arguments.wait_reset:
                try:
                    kind, value = await asyncio.wait_for(
                        asyncio.shield(client.waiters[hung]), arguments.timeout
                    )
                    if kind == "reset":
                        say("reset", hung, value)
                except asyncio.TimeoutError:
                    say("timeout", hung)
            # Wait a little (--linger) for a close the server may send.
            for _ in range(int(arguments.linger * 20)):
                if client.terminated is not None:
                    break
                await asyncio.sleep(0.05)
            if client.terminated is not None:
                code, reason = client.terminated
                say("closed", code, reason)
            return 0 if answered == len(queries) else 1
    except ConnectionError as error:
        say("handshake-failed", repr(error))
        return 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="ADDRESS:PORT")
    parser.add_argument("--ca", required=True, help="PEM file of the CA to trust")
    parser.add_argument("--sni", default="dns.test", help="TLS server name")
    parser.add_argument("--alpn", default="doq", help="ALPN token to offer")
    parser.add_argument("--query", action="append", default=[], help="a DNS query in hex")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per answer")
    parser.add_argument("--hang", action="store_true", help="also open a stream that never ends")
    parser.add_argument("--wait-reset", action="store_true", help="wait for the hung stream's reset")
    parser.add_argument("--linger", type=float, default=0.0, help="seconds to wait for a close")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(run(arguments)))


if __name__ == "__main__":
    main()

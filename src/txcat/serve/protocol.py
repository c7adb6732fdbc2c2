"""uvicorn's HTTP/1.1 protocol with the TCP options a request/response API needs.

Two waits of about 40 ms (Linux's delayed acknowledgement) otherwise hit every request on a
keep-alive connection, and neither depends on the work the request asks for:

- The response. uvicorn writes a response's headers and its body in two writes. asyncio turns
  Nagle's algorithm off (`TCP_NODELAY`) only on connections whose listening socket says
  `IPPROTO_TCP`; with `--workers` above 1 uvicorn binds that socket itself with protocol 0, so
  its workers' connections keep Nagle: the body waits for the client to acknowledge the
  headers, which the client delays by 40 ms. Every request then took at least ~50 ms.
- The request. A client that writes the headers and the body in two writes without
  `TCP_NODELAY` (many do) holds the body until the server acknowledges the headers; the server
  delays that acknowledgement. `TCP_QUICKACK`, set again after each read (Linux clears it),
  makes the server acknowledge at once, so the service does not depend on its clients' socket
  options.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class NoDelayH11Protocol(H11Protocol):
    """h11's protocol with Nagle off and acknowledgements sent at once, whatever the worker."""

    _socket: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # (override: uvicorn narrows asyncio.Protocol's BaseTransport to Transport, as here)
        self._socket = transport.get_extra_info("socket")
        self._set(socket.TCP_NODELAY)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if _QUICKACK is not None:
            self._set(_QUICKACK)
        super().data_received(data)

    def _set(self, option: int) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # closed meanwhile, or not a TCP socket
                self._socket.setsockopt(socket.IPPROTO_TCP, option, 1)

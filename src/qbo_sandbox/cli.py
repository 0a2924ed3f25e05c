"""qbo-sandbox console script."""

from __future__ import annotations

import argparse
import socket

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="qbo-sandbox", description="Offline QuickBooks Online API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--data", help="JSON file of realm specs to seed (see docs/sandbox.md)")
    parser.add_argument("--state", help="sqlite file; state survives restarts")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(data=args.data, state_path=args.state)
    print(f"qbo-sandbox on http://{args.host}:{args.port}  (discovery: "
          f"http://{args.host}:{args.port}/.well-known/openid-configuration)", flush=True)
    # Our own listening socket, so accepted connections inherit TCP_NODELAY (else Nagle holds each
    # response body for the client's delayed ACK: ~40 ms per keep-alive request).
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((args.host, args.port))
    config = uvicorn.Config(app, log_level=args.log_level, lifespan="on", backlog=2048, server_header=False,
                            timeout_keep_alive=30, timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.close()


if __name__ == "__main__":
    main()

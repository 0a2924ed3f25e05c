"""qbo-sandbox console script."""

from __future__ import annotations

import argparse

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
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="on", backlog=2048,
                    server_header=False, timeout_keep_alive=30, timeout_graceful_shutdown=5)
    finally:
        app.close()


if __name__ == "__main__":
    main()

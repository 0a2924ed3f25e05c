"""qbo_sandbox: an offline emulator of the QuickBooks Online Accounting API v3.

Entry points:

* ``qbo_sandbox.app.create_app(data=None, state_path=None)`` -> ASGI app
* ``qbo_sandbox.testing.SandboxServer`` -> runs the app on 127.0.0.1 in a thread
* ``qbo-sandbox`` console script (``qbo_sandbox.cli:main``)

See docs/sandbox.md for what it implements and where it differs from QBO.
"""

__version__ = "0.1.0"

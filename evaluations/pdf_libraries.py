"""Imports WeasyPrint without two costs of its import that the PDF never needs.

WeasyPrint asks cffi for each library under its Windows and macOS names first
(`libgobject-2.0-0`, `gobject-2.0-0`, …) and under the Linux soname last. cffi looks
up every name that does not load with `ctypes.util.find_library`, which on Linux runs
`ldconfig`, `gcc` and `ld` in turn: 22 look-ups per process, about a third of a second
of CPU and more of waiting, before any PDF is drawn. Each list ends with the soname,
which loads directly (the dynamic loader searches the same places), so while
WeasyPrint loads its libraries the look-up answers "not found" at once.

And WeasyPrint parses its own HTML stylesheets when imported, each with a default URL
fetcher that can open HTTPS addresses: each reads the machine's certificate store
(about 50 ms). The PDF fetches nothing from the network (`evaluations.pdf` serves
its own static files only), so while WeasyPrint is imported those fetchers get an
HTTPS context that trusts no certificate: one that could never open a connection.
"""

import ctypes.util
import ssl
import sys


def no_network_context(*args, **kwargs) -> ssl.SSLContext:
    """An HTTPS context that verifies certificates against an empty store: every
    connection made with it fails. Made without reading the certificate store."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def load() -> None:
    if sys.platform != "linux" or "weasyprint.text.ffi" in sys.modules:
        return
    find_library = ctypes.util.find_library
    https_context = ssl._create_default_https_context
    ctypes.util.find_library = lambda name: None
    ssl._create_default_https_context = no_network_context
    try:
        import weasyprint.text.ffi  # noqa: F401
    finally:
        ctypes.util.find_library = find_library
        ssl._create_default_https_context = https_context


load()

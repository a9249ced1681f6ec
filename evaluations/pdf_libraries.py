"""Loads WeasyPrint's native libraries under their Linux names straight away.

WeasyPrint asks cffi for each library under its Windows and macOS names first
(`libgobject-2.0-0`, `gobject-2.0-0`, …) and under the Linux soname last. cffi looks
up every name that does not load with `ctypes.util.find_library`, which on Linux runs
`ldconfig`, `gcc` and `ld` in turn: 22 look-ups per process, about a third of a second
of CPU and more of waiting, before any PDF is drawn. Each list ends with the soname,
which loads directly (the dynamic loader searches the same places), so while
WeasyPrint loads its libraries the look-up answers "not found" at once.
"""

import ctypes.util
import sys


def load() -> None:
    if sys.platform != "linux" or "weasyprint.text.ffi" in sys.modules:
        return
    find_library = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        import weasyprint.text.ffi  # noqa: F401
    finally:
        ctypes.util.find_library = find_library


load()

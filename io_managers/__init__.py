"""The I/O managers that ship with flowstone: in-memory and filesystem (fsspec) storage.

This package owns the bundled implementations of ``flowstone.io.IOManager``. It uses only the
plugin surface a third-party manager gets (``flowstone.io``, ``flowstone.keys``,
``flowstone.errors``). It must not import its managers here: flowstone finds each one through the
``flowstone.io_managers`` entry-point group and imports its module only when an asset first uses it.
"""

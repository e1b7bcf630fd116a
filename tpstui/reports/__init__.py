"""The reports layer: sinks from a ``Session`` (or a recording) to files and tables.

``bench`` (the bench JSON, CSV and terminal table), ``export`` (a recording's tables and report)
and ``compare`` (several recordings side by side). Reads the state layer; never imports a source.
"""

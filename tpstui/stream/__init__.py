"""The stream layer: the events everything publishes, their telemetry vocabulary, and recordings.

``events`` (frozen msgspec records on one clock, the ``EventBus``), ``fields`` (telemetry keys,
labels, units, limits; throttle reason names) and ``recording/`` (the event stream written to a
file and read back). Imports nothing of tpstui above ``paths``, ``errors`` and ``settings``.
"""

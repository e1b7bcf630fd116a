"""The state layer: what the event stream has said, and every number derived from it.

``session`` (the ``Session``: events in, queries out; ``Session.from_events``), ``metrics``
(TTFT, TPS, ITL, across-run statistics), ``throttle`` (spans and their effect on decode speed),
``telemetry`` (per-run telemetry summaries, energy per token) and ``mbu`` (bandwidth
utilisation). Pure: no threads of its own, no devices, no torch, no transformers, no textual.
"""

"""The live app's widgets: each takes the frame's ``ViewModel`` in ``show()`` and redraws only on change."""

from tpstui.ui.widgets.header import HeaderBar, LoadPanel
from tpstui.ui.widgets.requests import RequestsPanel
from tpstui.ui.widgets.stats import StatsPanel
from tpstui.ui.widgets.stream import StreamText
from tpstui.ui.widgets.telemetry import TelemetryPanel
from tpstui.ui.widgets.timeline import TimelinePanel

__all__ = ["HeaderBar", "LoadPanel", "RequestsPanel", "StatsPanel", "StreamText", "TelemetryPanel", "TimelinePanel"]

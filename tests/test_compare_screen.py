"""The comparison screen: the same cells as the terminal table, the better value in bold."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable

from tests.recording_scripts import scripted_events
from tpstui.reports.compare import compare, table_cells
from tpstui.stream.recording import Recorder, read_recording
from tpstui.ui.screens.compare import CompareApp, CompareScreen


def test_compare_screen_shows_the_table(tmp_path: Path) -> None:
    paths = []
    for name, events in (("a", scripted_events()), ("b", scripted_events(model="other", slow=2.0))):
        recorder = Recorder(tmp_path / f"{name}.jsonl.zst")
        for event in events:
            recorder(event)
        recorder.close()
        paths.append(recorder.path)
    comparison = compare([read_recording(p) for p in paths])
    expected = table_cells(comparison)

    async def run() -> None:
        app = CompareApp(comparison)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause(0.05)
            assert isinstance(app.screen, CompareScreen)
            table = app.screen.query_one(DataTable)
            assert [str(c.label) for c in table.columns.values()] == expected[0]
            assert table.row_count == len(expected) - 1
            first = [str(cell) for cell in table.get_row_at(0)]
            assert first == expected[1] and first[0].startswith("TTFT")
            assert table.get_row_at(0)[1].style == "bold"  # A has the lower TTFT
            assert table.get_row_at(0)[2].style == ""
            await pilot.press("q")
        assert app.return_value == 0

    asyncio.run(run())

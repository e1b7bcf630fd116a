"""Generation: model loading (hub id, local dir, .gguf, embedded default), timing streamer, engine."""

from tpstui.sources.generation.streamer import IncrementalDetokenizer, TimingStreamer

__all__ = ["IncrementalDetokenizer", "TimingStreamer"]

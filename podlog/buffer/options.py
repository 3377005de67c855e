"""Buffer options of an output (Fluentd's ``<buffer>`` section, same names)."""

from __future__ import annotations

from podlog.config.options import Option, Options

__all__ = ["BufferOptions"]


class BufferOptions(Options):
    """How an output batches, flushes and retries. Declared once, for YAML and fluent.conf alike."""

    type = Option("str", "memory", doc="memory, or file (survives restarts; needs path).",
                  choices=("memory", "file"), aliases=("@type",))
    path = Option("str", "", doc="Directory of a file buffer (default: <agent data_dir>/buffer/<output>).")
    fsync = Option("str", "always", doc="File buffer: always (fsync before an input is acknowledged: survives "
                   "power loss) or never (survives kill -9 of the agent, not a power loss).",
                   choices=("always", "never"))
    dead_letter_path = Option("str", "", doc="NDJSON file for records given up on (default: "
                              "<agent data_dir>/deadletter/<output>.ndjson).")
    flush_interval = Option("duration", 1.0, doc="Flush a chunk at the latest this long after its first record.")
    flush_thread_count = Option("int", 1, doc="Chunks flushed in parallel.")
    flush_at_shutdown = Option("bool", True, doc="Try to flush everything on SIGTERM (within the grace period).")
    flush_mode = Option("str", "interval", doc="interval, or immediate (flush every batch as it arrives).",
                        choices=("interval", "immediate", "default", "lazy"))
    chunk_limit_size = Option("size", 8 * 1024 * 1024, doc="A chunk is flushed once it reaches this size.")
    chunk_limit_records = Option("int", 0, doc="A chunk is flushed once it holds this many records (0: no limit).")
    total_limit_size = Option("size", 64 * 1024 * 1024,
                              doc="Most bytes this output may hold; beyond it, overflow_action applies. "
                              "Memory buffers count 80 bytes per record on top of its bytes (RSS is about "
                              "1.3x this when full); file buffers count bytes on disk.")
    overflow_action = Option("str", "block", doc="block (pause inputs: no loss), drop_oldest_chunk, throw_exception.",
                             choices=("block", "drop_oldest_chunk", "throw_exception"))
    retry_type = Option("str", "exponential_backoff", doc="exponential_backoff or periodic.",
                        choices=("exponential_backoff", "periodic"))
    retry_wait = Option("duration", 1.0, doc="First wait before a retry.")
    retry_max_interval = Option("duration", 60.0, doc="Longest wait between retries.")
    retry_exponential_backoff_base = Option("float", 2.0, doc="Backoff multiplier.")
    retry_randomize = Option("bool", True, doc="Add jitter to retry waits so agents do not retry in lockstep.")
    retry_timeout = Option("duration", 72 * 3600.0, doc="Give up on a chunk after retrying this long.")
    retry_max_times = Option("int", -1, doc="Give up after this many retries (-1: no limit).")
    retry_forever = Option("bool", False, doc="Never give up (ignores retry_timeout and retry_max_times).")
    timekey = Option("duration", 0.0, doc="Accepted for Fluentd configs: chunks are not split by time.")
    chunk_keys = Option("list", [], doc="Chunk keys (only 'tag' is supported).")

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
    flush_interval = Option("duration", 1.0, doc="Flush a chunk at the latest this long after its first record.",
                            min=0)
    flush_thread_count = Option("int", 1, doc="Chunks flushed in parallel.", min=1, max=256)
    flush_at_shutdown = Option("bool", True, doc="Try to flush everything on SIGTERM (within the grace period).")
    flush_mode = Option("str", "interval", doc="interval, or immediate (flush every batch as it arrives).",
                        choices=("interval", "immediate", "default", "lazy"))
    chunk_limit_size = Option("size", 8 * 1024 * 1024, doc="A chunk is flushed once it reaches this size.", min=1)
    chunk_limit_records = Option("int", 0, doc="A chunk is flushed once it holds this many records (0: no limit).",
                                 min=0)
    total_limit_size = Option("size", 64 * 1024 * 1024, min=1,
                              doc="Most bytes this output may hold; beyond it, overflow_action applies. At least "
                              "chunk_limit_size. Memory buffers count 80 bytes per record on top of its bytes (RSS "
                              "is about 1.3x this when full); file buffers count bytes on disk.")
    queue_limit_length = Option("int", 0, min=0, doc="Fluentd's limit in chunks: when set and total_limit_size is "
                                "not, total_limit_size = chunk_limit_size x queue_limit_length (as in Fluentd).")
    overflow_action = Option("str", "block", doc="block (pause inputs: no loss), drop_oldest_chunk, throw_exception.",
                             choices=("block", "drop_oldest_chunk", "throw_exception"))
    retry_type = Option("str", "exponential_backoff", doc="exponential_backoff or periodic.",
                        choices=("exponential_backoff", "periodic"))
    retry_wait = Option("duration", 1.0, doc="First wait before a retry.", min=0.001)
    retry_max_interval = Option("duration", 60.0, doc="Longest wait between retries.", min=0.001)
    retry_exponential_backoff_base = Option("float", 2.0, doc="Backoff multiplier.", min=1)
    retry_randomize = Option("bool", True, doc="Add jitter to retry waits so agents do not retry in lockstep.")
    retry_timeout = Option("duration", 72 * 3600.0, doc="Give up on a chunk after retrying this long.", min=0)
    retry_max_times = Option("int", -1, doc="Give up after this many retries (-1: no limit).", min=-1)
    retry_forever = Option("bool", False, doc="Never give up (ignores retry_timeout and retry_max_times).")
    timekey = Option("duration", 0.0, doc="Fluentd's time slices of chunks.",
                     ignored="chunks are not split by time; records keep their own time.")
    chunk_keys = Option("list", [], doc="Fluentd's chunk keys (<buffer tag,time>).",
                        ignored="chunks are always split by tag and by nothing else.")

    def validate(self, given: set[str]) -> None:
        if self.queue_limit_length and "total_limit_size" not in given:
            self.total_limit_size = self.chunk_limit_size * self.queue_limit_length
        if self.total_limit_size < self.chunk_limit_size:
            raise self.error("total_limit_size", f"must be at least chunk_limit_size ({self.chunk_limit_size} "
                             f"bytes), got {self.total_limit_size} bytes: not even one chunk would fit")

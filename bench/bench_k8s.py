"""Kubernetes metadata enrichment: the per-line CPU cost it adds to S2, measured on whole agent processes.

S2   the CRI corpus, JSON payloads lifted, written as NDJSON (bench/run.py's S2: no kubernetes fields)
K2   the same file under a kubelet name (``<pod>_<ns>_<container>-<id>.log``), the tail's file-name
     metadata on, and a ``kubernetes_metadata`` filter completing it from an API server: pod uid, five
     labels, an owner, images, node, namespace labels (about 600 bytes more per record)

The API server is the test suite's protocol double (tests/drivers/k8s_api.py) in a child process: the
agent lists and watches once, then every batch costs one lookup and one swap of the joined documents.
First the stage itself is timed in process (the tail's line decoding with S2's fields, with the file-name
fields, with the API's, and the filter's pass over the batches), then whole agents with a null output
(what the larger records cost the buffer) and a file output (what writing them costs).
Run: ``python bench/bench_k8s.py [--lines N] [--repeat R]``. The least CPU of the runs is kept.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as agent_bench  # noqa: E402  bench/run.py: corpus, process accounting, S2's config

CID = "5f" * 32
NEWLINE = b"\n"
POD = "web-5d8f7-abcde"

_SERVE = """
import sys, time
from tests.drivers.k8s_api import K8sApiDouble
api = K8sApiDouble(tokens={"bench-token": None}, bookmark_interval=30).start()
api.put("v1", "namespaces", {"metadata": {"name": "shop", "labels": {"team": "web", "env": "prod"}}})
api.put("v1", "pods", {"metadata": {"name": "@POD@", "namespace": "shop", "labels": {
    "app.kubernetes.io/name": "web", "app.kubernetes.io/version": "1.4.2", "app.kubernetes.io/part-of": "shop",
    "tier": "frontend", "pod-template-hash": "5d8f7"}, "annotations": {"team.example.com/owner": "web-team"},
    "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d8f7", "controller": True}]},
    "spec": {"nodeName": "bench-node", "containers": [{"name": "app", "image": "registry.local/web:1.4.2"}]},
    "status": {"hostIP": "10.0.0.7", "podIP": "10.244.1.9", "containerStatuses": [{"name": "app",
        "image": "registry.local/web:1.4.2", "imageID": "registry.local/web@sha256:@IMAGE@",
        "containerID": "containerd://@CID@"}]}})
print(api.url, flush=True)
sys.stdin.read()
""".replace("@POD@", POD).replace("@IMAGE@", "ab" * 32).replace("@CID@", CID)


def config(work: Path, path: str, url: str, k8s: bool, output: str) -> Path:
    """S2's source (or K2's: a kubelet-named file, file-name metadata on, the filter) and a file or null output."""
    cfg = work / "bench-k8s.yaml"
    for name in ("out.ndjson", "pos.json"):
        if (work / name).exists():
            (work / name).unlink()
    (work / "token").write_text("bench-token")
    source = f"""
sources:
  - type: tail
    path: [{path}]
    pos_file: {work}/pos.json
    read_from_head: true
    exit_on_eof: true
    parser: json
    tag: kube.*
    kubernetes_metadata: {str(k8s).lower()}
"""
    filters = f"""
filters:
  - type: kubernetes_metadata
    match: "kube.**"
    kubernetes_url: {url}
    bearer_token_file: {work}/token
    node_name: bench-node
    annotation_match: ["^team"]
""" if k8s else ""
    out = f"path: {work}/out.ndjson\n    " if output == "file" else ""
    cfg.write_text(source + filters + f"""
outputs:
  - type: "{output}"
    {out}buffer: {{flush_interval: 0.2s, chunk_limit_size: 1MiB, total_limit_size: 4MiB}}
""")
    return cfg


def measure(work: Path, name: str, n: int, base: float, repeat: int, path: str, url: str, k8s: bool,
            output: str) -> float:
    runs = [agent_bench._run([*agent_bench.PODLOG, "agent", "-c", str(config(work, path, url, k8s, output)),
                              "--log-level", "warning"]) for _ in range(repeat)]
    per_line = [(r[0] - base) / n * 1e6 for r in runs]
    print(f"{name:3} {output:5} {min(per_line):6.2f} CPU-µs/line (runs: {' '.join(f'{x:.2f}' for x in per_line)}) "
          f"peak RSS {max(r[1] for r in runs) / 1024:5.1f} MB", flush=True)
    if output == "file":
        out = (work / "out.ndjson").read_bytes()
        first = out[: out.find(b"\n")]
        verdict = "enriched" if b"pod_id" in first else "plain"
        size = len(out) // max(1, out.count(NEWLINE))
        print(f"          {size:,} bytes per record, {verdict}")
    return min(per_line)


_STAGE = """
import sys, time
sys.path.insert(0, "bench")
import corpus
from podlog.batch import Batch
from podlog.codecs.container import LineCodec
from podlog.k8s import tail_hook
from podlog.k8s.paths import metadata_from_path
from tests.filters.helpers import yaml_filter
url, token, path, n = sys.argv[1:5]
flt = yaml_filter("  - {type: kubernetes_metadata, kubernetes_url: %s, bearer_token_file: %s, node_name: bench-node, "
                  "annotation_match: ['^team']}\\n" % (url, token))
flt.start()
names = metadata_from_path(path)
enriched, _ = tail_hook.from_pod(names)
lines = [line.rstrip(b"\\n") for line in corpus.cri_lines(int(n))]
def best(fn):
    return min(fn() for _ in range(5)) / len(lines) * 1e6
def decode(fields):
    codec = LineCodec("cri", fields, lift_json=True)
    def run():
        docs, offsets = [], []
        t = time.process_time()
        for i in range(0, len(lines), 1000):
            codec.decode(lines[i:i + 1000], 0, docs, offsets)
        return time.process_time() - t
    return run, docs_of(fields)
def docs_of(fields):
    docs, offsets = [], []
    LineCodec("cri", fields, lift_json=True).decode(lines, 0, docs, offsets)
    return [docs[i:i + 1000] for i in range(0, len(docs), 1000)]
def filtered(batches):
    def run():
        t = time.process_time()
        for docs in batches:
            flt.filter(Batch("kube.x", docs=list(docs)))
        return time.process_time() - t
    return run
plain, _ = decode({})
named, _ = decode({"kubernetes": names})
full, batches = decode({"kubernetes": enriched})
p, nm, f, k = best(plain), best(named), best(full), best(filtered(batches))
print(f"tail decode, S2 fields {p:.3f}; + file-name metadata {nm:.3f}; + API metadata {f:.3f}; "
      f"kubernetes_metadata filter {k:.3f} CPU-µs/line; enrichment stage total {f + k - p:+.3f} CPU-µs/line")
flt.stop()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="podlog-bench-k8s-") as tmp:
        work = Path(tmp)
        cri = work / "cri.log"
        agent_bench._make("cri", args.lines, cri)
        n = agent_bench._count(cri)
        log_dir = work / "containers"
        log_dir.mkdir()
        os.link(cri, log_dir / f"{POD}_shop_app-{CID}.log")
        base = agent_bench._baseline()
        print(f"corpus: {n:,} CRI lines; interpreter start+imports {base * 1000:.0f} ms (subtracted)")
        server = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  cwd=HERE.parent, text=True)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            stage = subprocess.run([sys.executable, "-c", _STAGE, url, str(work / "token"),
                                    str(log_dir / f"{POD}_shop_app-{CID}.log"), str(min(n, 200_000))],
                                   cwd=HERE.parent, capture_output=True, text=True, check=True)
            print("stage (in process, best of 5):", stage.stdout.strip())
            for output in ("null", "file"):
                s2 = measure(work, "S2", n, base, args.repeat, str(cri), url, False, output)
                k2 = measure(work, "K2", n, base, args.repeat, f"{log_dir}/*.log", url, True, output)
                print(f"    K2 - S2 with the {output} output: {k2 - s2:+.2f} CPU-µs/line")
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()

"""podlog: a Kubernetes logging system. Kept import-free so the sidecar stays small."""

__version__ = "0.1.0"

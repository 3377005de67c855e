"""The search API and web UI over a podlog store (Starlette + uvicorn; imported only by ``podlog up``/``serve``)."""

"""Standards adapters: CAP 1.2 alerts and EDXL-RM 1.0 resource messages to and from contracts.

``cap`` and ``edxl_rm`` are pure translation (no I/O); ``translate`` is the shared entry
point; ``http`` (FastAPI router) and ``bus`` (FastStream consumer of ``ingress.xml``) make
them reachable. See ``docs/standards.md`` for the mappings.
"""

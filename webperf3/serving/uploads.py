"""The one kind of request with a big body: a floor plan's picture.

Every other route takes a JSON body of a few hundred bytes (``max_body_bytes``);
``POST /api/plans`` and ``PUT /api/plans/<id>/image`` take an image of up to
:data:`~webperf3.survey.images.MAX_PLAN_BYTES`. Both the web server (which
refuses a body from its ``Content-Length`` before reading it) and the guard
ask :func:`is_upload` which cap a request gets.
"""

from __future__ import annotations

import re

from ..survey.images import MAX_PLAN_BYTES

#: What an upload's body may be (the plan's own cap; the view says it in words).
MAX_UPLOAD_BYTES = MAX_PLAN_BYTES
#: How long a whole upload may take to arrive: 20 MB from a phone at 5 Mbit/s is 32 s.
UPLOAD_SECONDS = 120.0

_IMAGE_PATH = re.compile(r"/api/plans/[0-9]{1,9}/image")


def is_upload(method: str | None, path: str) -> bool:
    """A request whose body is a plan's picture."""
    return (method == "POST" and path == "/api/plans") or (method == "PUT" and _IMAGE_PATH.fullmatch(path) is not None)


def too_large_message(length: int) -> str:
    return (
        f"the plan is {length / 1e6:.1f} MB: at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB are kept "
        "(save it smaller, e.g. as JPEG, or scaled down)"
    )

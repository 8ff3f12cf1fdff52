"""What only ``serve`` needs: the long-lived service that owns the store, its ingest jobs,
the guard of what a request may read, and the owner file of a local store."""

from ._ask import service_ask as service_ask
from ._guard import Guard as Guard
from ._jobs import Job as Job
from ._jobs import JobRequest as JobRequest
from ._owner import OWNER_FILE as OWNER_FILE
from ._owner import owner_of as owner_of
from ._service import Service as Service
from ._service import ServiceOptions as ServiceOptions
from ._service import open_service as open_service

__all__ = [
    "OWNER_FILE",
    "Guard",
    "Job",
    "JobRequest",
    "Service",
    "ServiceOptions",
    "open_service",
    "owner_of",
    "service_ask",
]

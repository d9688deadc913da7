"""Domain errors -> gRPC status codes with ``google.rpc.Status`` details (via grpcio-status).

Bad input becomes INVALID_ARGUMENT with BadRequest field violations, dependency failures UNAVAILABLE with
ErrorInfo, rate limits RESOURCE_EXHAUSTED with RetryInfo. Anything unexpected becomes INTERNAL with a generic
message and the request id: the traceback goes to the log, never to the client. Every error carries RequestInfo
so a client can quote the request id when reporting a problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mesh import errors
from mesh.context import REQUEST_ID_KEY
from mesh.limits import MAX_VIOLATIONS, clip

#: Domain error class -> status code; subclasses map like their nearest listed base.
CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.DomainError: grpc.StatusCode.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """What ``ServicerContext.abort`` needs to end a call with a rich status."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


#: ErrorInfo.domain when an Unavailable error names none.
DEFAULT_ERROR_DOMAIN = "dungeonmaster"


def code_for(exc: BaseException) -> grpc.StatusCode:
    """The status code an exception maps to (INTERNAL for anything that is not a DomainError)."""
    for cls in type(exc).__mro__:
        code = CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def rich_status(exc: BaseException, request_id: str) -> status_pb2.Status:
    """Build the ``google.rpc.Status`` for an exception raised by a handler."""
    code = code_for(exc)
    details: list[object] = []
    if isinstance(exc, errors.DomainError):
        # Clipped so an error that quotes a huge value can never outgrow the trailers (clients see the status).
        message = clip(exc.message)
        if isinstance(exc, errors.InvalidArgument):
            details.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=clip(f, 200), description=clip(d, 400)
                        )
                        for f, d in exc.violations[:MAX_VIOLATIONS]
                    ]
                )
            )
        elif isinstance(exc, errors.Unavailable):
            details.append(
                error_details_pb2.ErrorInfo(
                    reason=exc.reason or "DEPENDENCY_UNAVAILABLE",
                    domain=exc.domain or DEFAULT_ERROR_DOMAIN,
                )
            )
        elif isinstance(exc, errors.FailedPrecondition) and exc.precondition:
            details.append(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=clip(t, 100), subject=clip(s, 200), description=clip(d, 400)
                        )
                        for t, s, d in exc.precondition[:MAX_VIOLATIONS]
                    ]
                )
            )
        elif isinstance(exc, errors.ResourceExhausted) and exc.retry_after_s is not None:
            details.append(error_details_pb2.RetryInfo(retry_delay=_duration(exc.retry_after_s)))
        elif isinstance(exc, errors.NotFound | errors.AlreadyExists):
            details.append(
                error_details_pb2.ResourceInfo(
                    resource_type=clip(exc.resource, 200),
                    resource_name=clip(exc.name, 200),
                    description=f"named by {exc.field}"
                    if isinstance(exc, errors.NotFound) and exc.field
                    else "",
                )
            )
    else:
        message = f"internal error (request id {request_id})" if request_id else "internal error"
    if request_id:
        details.append(error_details_pb2.RequestInfo(request_id=request_id))
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    return status_pb2.Status(code=_code_number(code), message=message, details=packed)


def to_grpc_status(exc: BaseException, request_id: str) -> ErrorStatus:
    """Code, message and trailing metadata (rich details + the request id) to abort a call with for ``exc``."""
    status = rpc_status.to_status(rich_status(exc, request_id))
    trailing: tuple[tuple[str, str | bytes], ...] = tuple(status.trailing_metadata)
    if request_id:
        trailing = (*trailing, (REQUEST_ID_KEY, request_id))
    return ErrorStatus(code=status.code, details=status.details, trailing_metadata=trailing)


def unpack_details(status: status_pb2.Status) -> list[object]:
    """Decode the known detail messages of a ``google.rpc.Status`` (handy for clients and tests)."""
    out: list[object] = []
    for holder in status.details:
        for cls in (
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.ResourceInfo,
            error_details_pb2.RequestInfo,
            error_details_pb2.PreconditionFailure,
        ):
            if holder.Is(cls.DESCRIPTOR):
                msg = cls()
                holder.Unpack(msg)
                out.append(msg)
                break
    return out


def _code_number(code: grpc.StatusCode) -> int:
    number: int = code.value[0]
    return number


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = math.floor(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))

"""QBO fault bodies: the API-layer ``Fault`` envelope and the gateway's lower-case envelope.

Texts are verbatim from captures where one exists (see docs/sandbox.md, "Faults").
"""

from __future__ import annotations

from .util import now_ts, response_time

MSG_REQUIRED = "Required param missing, need to supply the required value for the API"
DETAIL_610_INACTIVE = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
DETAIL_610_DELETED = "Object Not Found : Another user has deleted this transaction."


class QBOFault(Exception):
    """A validation/business fault: becomes {"Fault": {...}} (HTTP 400 unless said otherwise)."""

    def __init__(self, errors: list[dict], type_: str = "ValidationFault", status: int = 400,
                 with_time: bool = True):
        super().__init__(errors[0].get("Message") if errors else "fault")
        self.errors = errors
        self.type = type_
        self.status = status
        self.with_time = with_time

    def fault(self) -> dict:
        return {"Error": self.errors, "type": self.type}

    def body(self) -> dict:
        b = {"Fault": self.fault()}
        if self.with_time:
            b["time"] = response_time()
        return b

    @property
    def code(self) -> str:
        return self.errors[0]["code"] if self.errors else ""


def err(code, message, detail=None, element=None) -> dict:
    e = {"Message": message}
    if detail is not None:
        e["Detail"] = detail
    e["code"] = str(code)
    if element is not None:
        e["element"] = element
    return e


def required(field: str, element: str | None = None) -> QBOFault:
    return QBOFault([err(2020, MSG_REQUIRED, f"Required parameter {field} is missing in the request",
                         field if element is None else element)])


def not_found(deleted: bool = False) -> QBOFault:
    return QBOFault([err(610, "Object Not Found", DETAIL_610_DELETED if deleted else DETAIL_610_INACTIVE, "")])


def invalid_ref(element: str) -> QBOFault:
    return QBOFault([err(2500, "Invalid Reference Id", f"Invalid Reference Id : {element}", element)])


def stale(user: str) -> QBOFault:
    return QBOFault([err(5010, "Stale Object Error",
                         f"Stale Object Error : You and {user} were working on this at the same time. "
                         f"{user} finished before you did, so your work was not saved.", "")])


def duplicate_name() -> QBOFault:
    # Verbatim 2020 sandbox capture (customer-create-duplicate-name-6240.json): no "element" key.
    return QBOFault([err(6240, "Duplicate Name Exists Error", "The name supplied already exists. : null")])


def invalid_email(value: str, element: str) -> QBOFault:
    # Message: the seed's "Invalid Email Address format"; Detail as captured for code 2210.
    return QBOFault([err(2210, "Invalid Email Address format",
                         f"Email Address does not conform to the syntax rules of RFC 822. Supplied value:{value}",
                         element)])


def unsupported_operation(detail: str) -> QBOFault:
    return QBOFault([err(500, "Unsupported Operation", detail)])


def invalid_id(value: str) -> QBOFault:
    # customer-read-non-numeric-id-2030.json: no top-level "time".
    return QBOFault([err(2030, "Invalid ID", f"Id should be a valid number. Supplied value:{value}", "Id")],
                    with_time=False)


def string_length(element: str, max_len: int, supplied: int) -> QBOFault:
    return QBOFault([err(2050, "Invalid String Length",
                         f"String length is either shorter or longer than supported by specification. "
                         f"Min:0 Max:{max_len} supplied:{supplied}", element)])


def query_parse(detail: str) -> QBOFault:
    return QBOFault([err(4000, "Error parsing query", f"QueryParserError: {detail}")])


def query_invalid(detail: str) -> QBOFault:
    return QBOFault([err(4001, "Invalid query", f"QueryValidationError: {detail}")])


# --- gateway faults (lower-case Jackson envelope, epoch-millisecond time) -------------------------

GATEWAY = {
    # kind: (status, message, code, type, default detail)
    "003202": (400, "message=BadRequest; errorCode=003202; statusCode=400", "3202", "AUTHENTICATION",
               "Empty or missing bearer token"),
    "003200": (401, "message=AuthenticationFailed; errorCode=003200; statusCode=401", "3200", "AUTHENTICATION",
               "Malformed bearer token: too short or too long"),
    "003100_403": (403, "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", "3100",
                   "SERVICE", None),
    "003001": (429, "message=ThrottleExceeded; errorCode=003001; statusCode=429", "3001", "SERVICE",
               "The request limit was reached.  Try again later"),
    "003100": (500, "message=InternalServerError; errorCode=003100; statusCode=500", "3100", "SERVICE",
               "Internal Server Error"),
}


def gateway_body(kind: str, detail: str | None = ...) -> tuple[int, dict]:
    status, message, code, type_, default_detail = GATEWAY[kind]
    return status, {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": default_detail if detail is ... else detail,
                       "code": code, "element": None}],
            "type": type_,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(now_ts() * 1000),
        "status": None,
        "cdcresponse": [],
    }

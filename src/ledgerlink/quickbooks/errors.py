"""QBO fault classification: every failure gets an error kind, a title and the fix a person should make.

``classify(status, body_text, exc=None)`` reads all the envelopes QBO is known to answer with
(see ``reference/qbo-recorded``):

1. the API fault, capitalised: ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}}``
   (also inside ``BatchItemResponse`` / ``AttachableResponse`` items);
2. the gateway fault, lower-case Jackson object: ``{"fault": {"error": [{"message", "detail", "code"}]}}``
   whose message carries the six-digit gateway code (``message=...; errorCode=003200; statusCode=401``);
3. XML ``IntuitResponse``/``Fault`` (throttling, gateway timeout, some validation faults, sometimes
   malformed: a missing ``</Error>``), and XML ``FaultInfo``;
4. an HTML page from the load balancer, or plain text;
5. the OAuth token endpoint's ``{"error": "invalid_grant", "error_description": ...}``;

plus transport exceptions (timeouts, refused or dropped connections).

``transient`` means "retry the same request later, unchanged": 003202, 5xx, 429, network errors and
timeouts. Everything else needs a person (or a reconnect) and is parked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from xml.etree import ElementTree

import httpx

SEED_CUSTOMER_REF_FIX = (
    "No QuickBooks Online customer has this order's email (or the order has no email), and an Invoice "
    "requires an existing customer. Sending the order as a Sales Order (Sales Receipt) does not need one.\n"
    "1. Add the new Customer in your QuickBooks Online account. Be sure the Customer Email matches the "
    "email on the order or the new email you are adding to the order. After the next customer sync the "
    "new Customer appears in the Customers tab of the QBO admin area.\n"
    "2. Go to the Customers tab in the QBO admin area and find the Customer in the list.\n"
    "3. Make note of the ID, Name and Email for that Customer (for example ID 56, Name \"Acme Tools\", "
    "email name2@example.com).\n"
    "4. Open Edit for Re-Queue on this request and set, leaving \"TotalAmt\" at its existing value:\n"
    "   \"BillEmail\": { \"Address\": \"name2@example.com\" }, \"CustomerRef\": { \"value\": \"56\", "
    "\"name\": \"Acme Tools\" }\n"
    "5. Click \"Save & Re-Queue\".\n"
    "For a wholesale order source, an Order Automation rule that sets the same email on all orders from "
    "that source places them all under one customer."
)

SEED_INVALID_EMAIL_FIX = (
    "The email address for a new Customer is not formatted correctly. First fix the email on the order "
    "and in any Order Automation rule that sets email addresses. Then open Edit for Re-Queue on this "
    "request, correct \"BillEmail\": { \"Address\": \"...\" } and click \"Save & Re-Queue\". In most cases "
    "the request then fails with \"CustomerRef is required\": follow that fix to finish the submission."
)

SEED_003202_FIX = (
    "A connection error while submitting to QuickBooks Online. Ledgerlink retries it by itself; if the "
    "retries ran out, re-queue the request: open Edit for Re-Queue and click \"Save & Re-Queue\" without "
    "changing anything."
)

ERROR_KINDS: dict[str, dict[str, str]] = {
    "customer_ref_required": {"title": "CustomerRef is required", "fix": SEED_CUSTOMER_REF_FIX},
    "invalid_email": {"title": "Invalid Email Address format", "fix": SEED_INVALID_EMAIL_FIX},
    "connection_003202": {
        "title": "message=BadRequest; errorCode=003202; statusCode=400",
        "fix": SEED_003202_FIX,
    },
    "auth_reconnect": {
        "title": "QuickBooks connection needs to be renewed",
        "fix": "QuickBooks Online refused the company's OAuth tokens (expired, revoked, or the user lost "
        "access). The Company is paused and nothing was failed: an admin reconnects it (Connections > "
        "Reconnect, or `ledgerlink connect`), then its requests are sent again by themselves.",
    },
    "throttled": {
        "title": "QuickBooks rate limit reached (429)",
        "fix": "QuickBooks Online asked to slow down (more than 500 requests a minute, 10 at once, or 40 "
        "batches a minute for this company). Ledgerlink pauses this Company for 60 seconds and retries; "
        "nothing to do unless it keeps happening (then lower the company's limits).",
    },
    "server_error": {
        "title": "QuickBooks server error",
        "fix": "QuickBooks Online failed on its side (5xx, gateway timeout, system fault). Ledgerlink "
        "retries with backoff; if the retries ran out, re-queue the request unchanged later. If it "
        "persists, give Intuit support the intuit_tid of the attempt.",
    },
    "network": {
        "title": "Network error or timeout",
        "fix": "The connection to QuickBooks Online failed or timed out. Ledgerlink retries with the same "
        "requestid (QuickBooks replays the first answer) and looks the document up before any new "
        "create, so nothing is posted twice. If the retries ran out, re-queue the request unchanged.",
    },
    "stale_object": {
        "title": "Stale Object Error",
        "fix": "Someone changed this record in QuickBooks Online after Ledgerlink read it (the SyncToken "
        "is old). Sync the Company, update \"SyncToken\" in the payload with Edit for Re-Queue, then "
        "Save & Re-Queue.",
    },
    "duplicate_name": {
        "title": "Duplicate Name Exists Error",
        "fix": "Another customer, vendor or employee (possibly inactive) already uses this name. Use that "
        "record (set \"CustomerRef\" to its Id) or choose a different DisplayName, then Save & Re-Queue.",
    },
    "duplicate_doc_number": {
        "title": "Duplicate Document Number Error",
        "fix": "QuickBooks Online already has a transaction with this DocNumber. Check whether it is this "
        "order (then cancel this request); otherwise change \"DocNumber\" with Edit for Re-Queue and "
        "Save & Re-Queue.",
    },
    "doc_number_too_long": {
        "title": "DocNumber is longer than 21 characters",
        "fix": "QuickBooks Online accepts at most 21 characters in DocNumber. Shorten \"DocNumber\" with "
        "Edit for Re-Queue (or change the order number format), then Save & Re-Queue.",
    },
    "invalid_reference": {
        "title": "Invalid Reference Id",
        "fix": "The payload refers to an item, customer or account that does not exist in QuickBooks "
        "Online or has been made inactive (see the element). Sync the Company, pick an active record "
        "(or set the site area's default item) and fix the reference with Edit for Re-Queue.",
    },
    "shipping_item_missing": {
        "title": "No shipping item for this site area",
        "fix": "The order charges shipping, but its site area has no shipping item, and QuickBooks Online "
        "would book the shipping on its default item \"Services\" (as a sale). Caught before sending: "
        "nothing reached QuickBooks. 1. An admin sets the site area's shipping item (Site Areas and Order "
        "Sources > the site area > Shipping item (QBO Id): the Id of your shipping item, or SHIPPING_ITEM_ID "
        "when shipping is turned on in the company's sales settings); later orders use it. 2. On this "
        "request, Edit for Re-Queue: in the "
        "\"Shipping\" line set \"SalesItemLineDetail\": { \"ItemRef\": { \"value\": \"<that Id>\" } }, "
        "then Save & Re-Queue.",
    },
    "amount_mismatch": {
        "title": "Amount calculation incorrect in the request.",
        "fix": "A line's Amount is not Qty x UnitPrice (rounded to cents). Correct the line in the payload "
        "with Edit for Re-Queue (or fix the order's line prices), then Save & Re-Queue.",
    },
    # Sales tax and currencies (docs/tax.md)
    "tax_code_unmapped": {
        "title": "No QuickBooks tax code for this tax rate",
        "fix": "The order charges a tax rate that the Company's tax mapping does not book to a QuickBooks "
        "tax code (the message names the rate), so nothing was sent. Open the Company's Tax mapping page, "
        "pick the QuickBooks tax code for that rate (or the exempt code for untaxed lines) and click "
        "\"Map and re-queue all\": every request waiting on that rate is rebuilt and queued.",
    },
    "tax_code_invalid": {
        "title": "QuickBooks refused the tax codes",
        "fix": "QuickBooks Online refused the document's tax codes (QBO's words are in the message: a line "
        "without a GST/HST/VAT code, a US line code other than TAX/NON, a tax detail it does not allow, or a "
        "code that is unknown or inactive). Sync the Company (its tax codes are mirrored with it), correct "
        "the Company's Tax mapping so every rate and the exempt code name an active code, then re-queue.",
    },
    "currency_not_enabled": {
        "title": "Currency not enabled in QuickBooks",
        "fix": "The order is in a currency other than the Company's home currency, and the QuickBooks "
        "company does not have multicurrency on (or the currency is not added), so nothing was sent. Turn on "
        "multicurrency and add the currency in QuickBooks (Settings > Account and settings > Advanced > "
        "Currency), sync the Company, then re-queue; or send the order in the home currency.",
    },
    "customer_currency_mismatch": {
        "title": "The customer is in another currency",
        "fix": "A QuickBooks customer has one currency, and this document's currency is not the customer's "
        "(\"The transaction needs to be in the same currency as the A/R and A/P accounts you use.\"). Pick "
        "the customer in the order's currency (e.g. \"Acme Tools (EUR)\") with Edit for Re-Queue, or let the "
        "site area's create-customer policy make one, then re-queue.",
    },
    "validation": {
        "title": "QuickBooks rejected the request",
        "fix": "QuickBooks Online rejected the payload (see message, detail and element). Correct the "
        "named field with Edit for Re-Queue, then Save & Re-Queue.",
    },
    # After the document (issue 15: voids, payments, refunds).
    "void_refused_payments": {
        "title": "Invoice has payments applied and can't be voided",
        "fix": "QuickBooks Online will not void an invoice that a payment settles. Either refund the order "
        "instead (POST /api/v1/orders/{id}/refunds: a credit memo), or void or delete the invoice's "
        "payments in QuickBooks (Sales > the invoice > Payments) and then re-queue this void request "
        "unchanged.",
    },
    "deposited_transaction": {
        "title": "Deposited Transaction cannot be changed",
        "fix": "The sales receipt's money has been deposited in QuickBooks Online, so QuickBooks refuses to "
        "change or void it. Either refund the order instead (POST /api/v1/orders/{id}/refunds: a refund "
        "receipt), or delete the deposit in QuickBooks (Banking > the deposit > Delete) and re-queue this "
        "request unchanged.",
    },
    "overpayment": {
        "title": "Payment is more than the open balance",
        "fix": "The payment applies more to the invoice than it still owes in QuickBooks Online (someone "
        "may have recorded a payment there). Check the invoice's balance in QuickBooks; cancel this request "
        "or lower \"Amount\" and \"TotalAmt\" with Edit for Re-Queue, then Save & Re-Queue.",
    },
    "refund_account_missing": {
        "title": "Refund account missing",
        "fix": "A refund receipt pays the money back from a Bank or Other Current Asset account, and the "
        "order's site area names none. Set the site area's refund_account (the QuickBooks Account Id, e.g. "
        "35 for Checking), then open Edit for Re-Queue on this request, set \"DepositToAccountRef\": "
        "{ \"value\": \"35\" } and click \"Save & Re-Queue\".",
    },
    "unknown": {
        "title": "Unexpected response from QuickBooks",
        "fix": "QuickBooks Online answered in a way Ledgerlink does not recognise. Check the attempt's "
        "response body and intuit_tid; re-queue once the cause is understood.",
    },
}

TRANSIENT_KINDS = frozenset({"connection_003202", "throttled", "server_error", "network"})

_GATEWAY_RE = re.compile(r"errorCode=(\d+)", re.I)
_STATUS_RE = re.compile(r"statusCode=(\d+)", re.I)


@dataclass(frozen=True)
class Classification:
    """A classified failure. ``message``/``detail``/``code``/``element`` are QBO's, verbatim."""

    kind: str
    transient: bool
    message: str = ""
    detail: str = ""
    code: str = ""
    element: str = ""

    @property
    def title(self) -> str:
        return ERROR_KINDS.get(self.kind, ERROR_KINDS["unknown"])["title"]

    @property
    def fix(self) -> str:
        return ERROR_KINDS.get(self.kind, ERROR_KINDS["unknown"])["fix"]

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "title": self.title,
            "message": self.message,
            "detail": self.detail,
            "code": self.code,
            "element": self.element,
            "fix": self.fix,
            "transient": self.transient,
        }


def make(kind: str, message: str = "", detail: str = "", code: str = "", element: str = "") -> Classification:
    """A Classification for ``kind`` (used by pre-flight checks and the worker)."""
    if kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind!r}")
    return Classification(kind, kind in TRANSIENT_KINDS, message, detail, code, element)


def title_of(kind: str) -> str:
    return ERROR_KINDS.get(kind, ERROR_KINDS["unknown"])["title"]


def fix_of(kind: str) -> str:
    return ERROR_KINDS.get(kind, ERROR_KINDS["unknown"])["fix"]


def kind_info(kind: str) -> dict[str, str]:
    """``{"title", "fix"}`` of a known error kind; empty strings for a kind QBO's classifier does not
    know (the API and the pages then show the request's own title)."""
    info = ERROR_KINDS.get(kind) if kind else None
    return {"title": info["title"], "fix": info["fix"]} if info else {"title": "", "fix": ""}


# --------------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Err:
    message: str = ""
    detail: str = ""
    code: str = ""
    element: str = ""
    fault_type: str = ""


def _s(value) -> str:
    return "" if value is None else str(value)


def _errors_from_fault(fault: dict) -> list[_Err]:
    """Errors of a capitalised ``Fault`` or lower-case ``fault`` object."""
    if not isinstance(fault, dict):
        return []
    ftype = _s(fault.get("type"))
    raw = fault.get("Error") if "Error" in fault else fault.get("error")
    if isinstance(raw, dict):
        raw = [raw]
    out = []
    for e in raw or []:
        if not isinstance(e, dict):
            continue
        g = {k.lower(): v for k, v in e.items()}
        out.append(
            _Err(_s(g.get("message")), _s(g.get("detail")), _s(g.get("code")), _s(g.get("element")), ftype)
        )
    return out


def _errors_from_json(data) -> tuple[list[_Err], dict | None]:
    """(errors, oauth_error) found in a parsed JSON body."""
    if isinstance(data, dict):
        if "Fault" in data or "fault" in data:
            return _errors_from_fault(data.get("Fault") or data.get("fault")), None
        if isinstance(data.get("error"), str):
            return [], data
        for key in ("BatchItemResponse", "AttachableResponse", "batchItemResponse"):
            for item in data.get(key) or []:
                if isinstance(item, dict) and ("Fault" in item or "fault" in item):
                    return _errors_from_fault(item.get("Fault") or item.get("fault")), None
    return [], None


def _xml_text(elem, name: str) -> str:
    for child in elem.iter():
        if child.tag.rsplit("}", 1)[-1] == name:
            return (child.text or "").strip()
    return ""


def _errors_from_xml(text: str) -> list[_Err]:
    try:
        root = ElementTree.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ElementTree.ParseError:
        return _errors_from_broken_xml(text)
    local = root.tag.rsplit("}", 1)[-1]
    if local == "FaultInfo":
        return [_Err(_xml_text(root, "Message"), _xml_text(root, "Cause"), _xml_text(root, "ErrorCode"), "", "FaultInfo")]
    out = []
    for fault in root.iter():
        if fault.tag.rsplit("}", 1)[-1] != "Fault":
            continue
        ftype = fault.get("type", "")
        for err in fault:
            if err.tag.rsplit("}", 1)[-1] != "Error":
                continue
            msg = det = ""
            for child in err:
                name = child.tag.rsplit("}", 1)[-1]
                if name == "Message":
                    msg = (child.text or "").strip()
                elif name == "Detail":
                    det = (child.text or "").strip()
            out.append(_Err(msg, det, err.get("code", ""), err.get("element", ""), ftype))
    return out


_XML_ERROR_RE = re.compile(r"<Error\b([^>]*)>", re.S)
_XML_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')
_XML_FAULT_TYPE_RE = re.compile(r'<Fault\b[^>]*type="([^"]*)"')


def _errors_from_broken_xml(text: str) -> list[_Err]:
    """QBO sometimes sends malformed XML (a missing ``</Error>``): read it with regular expressions."""
    out = []
    ftype_m = _XML_FAULT_TYPE_RE.search(text)
    ftype = ftype_m.group(1) if ftype_m else ""
    starts = list(_XML_ERROR_RE.finditer(text))
    for i, m in enumerate(starts):
        attrs = dict(_XML_ATTR_RE.findall(m.group(1)))
        chunk = text[m.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)]
        msg = re.search(r"<Message>(.*?)</Message>", chunk, re.S)
        det = re.search(r"<Detail>(.*?)</Detail>", chunk, re.S)
        out.append(
            _Err(
                msg.group(1).strip() if msg else "",
                det.group(1).strip() if det else "",
                attrs.get("code", ""),
                attrs.get("element", ""),
                ftype,
            )
        )
    return out


def parse_errors(body_text: str | bytes | None) -> tuple[list[_Err], dict | None]:
    if body_text is None:
        return [], None
    if isinstance(body_text, bytes):
        body_text = body_text.decode("utf-8", "replace")
    text = body_text.strip()
    if not text:
        return [], None
    if text[0] in "{[":
        try:
            return _errors_from_json(json.loads(text))
        except ValueError:
            pass
    if text.startswith("<?xml") or text.startswith("<IntuitResponse") or text.startswith("<FaultInfo"):
        return _errors_from_xml(text), None
    return [], None


# --------------------------------------------------------------------------------------------------
# Classification


def _exc_classification(exc: BaseException) -> Classification:
    name = type(exc).__name__
    text = str(exc) or name
    if isinstance(exc, httpx.TimeoutException):
        return Classification("network", True, f"Timeout: {text}", name)
    return Classification("network", True, f"Connection error: {text}", name)


def _kind_for(err: _Err, status: int | None) -> str:
    """Kind for one QBO error object."""
    message, detail, element = err.message, err.detail, err.element
    both = f"{message} {detail}"
    low = both.lower()
    gw = _GATEWAY_RE.search(message)
    gateway_code = gw.group(1) if gw else ""
    sm = _STATUS_RE.search(message)
    gateway_status = int(sm.group(1)) if sm else None
    code = err.code.lstrip("0") if err.code else ""

    if gateway_code == "003202" or (code == "3202" and not gateway_code):
        return "connection_003202"
    if gateway_code == "003001" or code == "3001" or status == 429 or "throttleexceeded" in low:
        return "throttled"
    if gateway_code == "003200" or code in {"3200", "130", "120"} or status == 401:
        return "auth_reconnect"
    if gateway_code == "003100" or code == "3100":
        # 003100 is both InternalServerError (500) and (Application)AuthorizationFailed (403).
        if (gateway_status or status or 0) >= 500 or "internalservererror" in low:
            return "server_error"
        return "auth_reconnect"
    if status == 403:
        return "auth_reconnect"
    if code in {"10000", "6002"} or gateway_code.startswith("006") or err.fault_type == "SystemFault":
        return "server_error"
    if err.fault_type == "FaultInfo":
        # An intermittent 400 in a legacy envelope; the same call succeeded when repeated.
        return "server_error"
    if code == "6000" and "try again" in low:
        return "server_error"
    if code == "5010" or "stale object" in low:
        return "stale_object"
    if code == "6240" or "duplicate name" in low:
        return "duplicate_name"
    if code == "6140" or "duplicate document number" in low:
        return "duplicate_doc_number"
    if "docnumber" in (element or "").lower().replace(".", "") and code in {"2050", "2080", "2090", "6000", ""}:
        return "doc_number_too_long"
    if code == "2210" or "invalid email address" in low or (
        code[:1] in {"2", "6"} and "email address" in low and ("rfc 822" in low or "invalid" in low)
    ):
        return "invalid_email"
    if code == "2020" and ("CustomerRef" in detail or "CustomerRef" in element or "CustomerRef" in message):
        return "customer_ref_required"
    if "customerref is required" in low:
        return "customer_ref_required"
    if "same currency as the a/r" in low:
        return "customer_currency_mismatch"
    if code == "2220" or "invalid currency type" in low or "multicurrency isn't turned on" in low:
        return "currency_not_enabled"
    if code in {"6100", "6170", "6470"} or (
        code == "6000" and ("rate before you save" in low or "calculating tax" in low)
    ) or ("taxcoderef" in (element or "").lower() and code in {"2500", "610"}) or (
        code == "2020" and "globaltaxcalculation" in low
    ):
        return "tax_code_invalid"
    if code in {"2500", "610", "6250"}:
        return "invalid_reference"
    if code == "6070" or "amount calculation incorrect" in low:
        return "amount_mismatch"
    if code == "6540" or "deposited transaction" in low:
        return "deposited_transaction"
    if "payments applied" in low and "void" in low:
        return "void_refused_payments"
    if "more than its open balance" in low:
        return "overpayment"
    if status is not None and status >= 500:
        return "server_error"
    if code.isdigit() and (code.startswith("2") or code.startswith("6") or code.startswith("4")) and len(code) == 4:
        return "validation"
    if code.isdigit() and int(code) in {500, 600, 2010, 2030}:
        return "validation"
    if "invalid company status" in low:
        return "validation"
    if code or message:
        return "validation"
    return "unknown"


def classify_fault(fault: dict, status: int | None = 200) -> Classification:
    """Classify a ``Fault`` object (e.g. one batch item's)."""
    errors = _errors_from_fault(fault)
    if not errors:
        return Classification("unknown", False, "", json.dumps(fault)[:2000])
    return _from_errors(errors, status)


def _from_errors(errors: list[_Err], status: int | None) -> Classification:
    first = errors[0]
    kind = _kind_for(first, status)
    # A later error may be more specific (e.g. a generic 2020 before CustomerRef); keep the first's text.
    for err in errors[1:]:
        k = _kind_for(err, status)
        if kind == "validation" and k not in {"validation", "unknown"}:
            kind, first = k, err
            break
    return Classification(kind, kind in TRANSIENT_KINDS, first.message, first.detail, first.code, first.element)


def classify(status: int | None, body_text: str | bytes | None, exc: BaseException | None = None) -> Classification:
    """Classify one failed exchange: HTTP ``status`` (None if no response), the body text, or the
    transport exception."""
    if exc is not None:
        return _exc_classification(exc)
    errors, oauth = parse_errors(body_text)
    if oauth is not None:
        error = _s(oauth.get("error"))
        kind = "auth_reconnect" if error in {"invalid_grant", "invalid_client", "unauthorized_client"} else (
            "server_error" if (status or 0) >= 500 else "auth_reconnect"
        )
        return Classification(kind, kind in TRANSIENT_KINDS, error, _s(oauth.get("error_description")), error, "")
    if errors:
        return _from_errors(errors, status)
    text = body_text.decode("utf-8", "replace") if isinstance(body_text, bytes) else (body_text or "")
    snippet = _strip_html(text)[:500]
    if status == 429:
        return Classification("throttled", True, "Too Many Requests", snippet, "429")
    if status is not None and status >= 500:
        return Classification("server_error", True, f"HTTP {status}", snippet, str(status))
    if status == 401:
        return Classification("auth_reconnect", False, "HTTP 401", snippet, "401")
    if "Invalid Company Status" in text:
        return Classification("validation", False, "Invalid Company Status", text[len("Invalid Company Status"):].strip(), "6190")
    if status is not None and 400 <= status < 500:
        return Classification("validation", False, f"HTTP {status}", snippet, str(status))
    return Classification("unknown", False, f"HTTP {status}" if status else "", snippet)


def _strip_html(text: str) -> str:
    if "<html" in text.lower():
        title = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
        if title:
            return title.group(1).strip()
        return re.sub(r"<[^>]+>", " ", text).strip()
    return text.strip()

"""The one client for QuickBooks Online's Accounting API (QBO-REFERENCE §2, §3).

Every call: base URL of the environment, bearer token, `minorversion=75`, `Accept: application/json`, a
mandatory timeout, `requestid` on writes (idempotency, §2.8), `intuit_tid` captured, errors typed once
by `errors.from_response`. A 401 refreshes the token once (through the token provider, which goes through
`connection_refresh`) and retries once. Before each request the realm's limiter (`limiter.py`) gives a slot at
Intuit's pace; a 429 blocks the realm for its `Retry-After` (else 60 s, §3.4) for every worker, and is waited out
here when that is a moment, else raised as `Throttled` for the outbox to reschedule (never an attempt). Apart from
the limiter's shared pace, the client never touches the database.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from integrations.conf import QuickBooksConfig, realm_limiter
from integrations.exceptions import QuickBooksError, Throttled, Unauthorized, Unavailable, ValidationFailed
from integrations.quickbooks import errors
from integrations.quickbooks.constants import INTUIT_TID_HEADER, MINOR_VERSION
from integrations.quickbooks.types import CompanyInfo

logger = logging.getLogger("qbo.client")

QUERY_PAGE_SIZE = 1000  # §2.5: at most 1000 per response
BATCH_MAX_ITEMS = 30  # §2.6
REQUEST_ID_MAX_LENGTH = 50  # §2.8 (36 for batch)
BATCH_REQUEST_ID_MAX_LENGTH = 36
MAX_THROTTLE_WAITS = 3  # 429s waited out in place per request before the outbox takes over


class TokenProvider(Protocol):
    def access_token(self) -> str: ...

    def refresh_after_rejection(self, rejected_access_token: str) -> str: ...


@dataclass(frozen=True)
class QuickBooksResponse:
    body: dict[str, Any]
    status: int
    intuit_tid: str


def quote(value: str) -> str:
    """A string literal for Intuit's query language; Intuit does not sanitize input (§2.5)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(value)


def select_statement(entity: str, **equals) -> str:
    """`select * from <entity> where A = 'x' and B = false` with every value escaped (no OR: §2.5)."""
    if not entity.isalnum() or not all(name.replace(".", "").isalnum() for name in equals):
        raise ValueError("entity and field names are letters and digits only")
    conditions = " and ".join(f"{name} = {literal(value)}" for name, value in equals.items())
    return f"select * from {entity}" + (f" where {conditions}" if conditions else "")  # noqa: S608


_thread_sessions = threading.local()


def pooled_session() -> requests.Session:
    """One HTTP session per thread, so connections (and TLS handshakes) are reused across pushes."""
    session = getattr(_thread_sessions, "session", None)
    if session is None:
        session = requests.Session()
        # Shared by every tenant this thread serves: never keep cookies (auth is the per-call bearer token).
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        # requests re-reads the proxy variables of the environment on every call (a walk over os.environ per push);
        # without any, that walk buys nothing. With proxies configured, requests keeps honouring them as usual.
        session.trust_env = bool(urllib.request.getproxies())
        _thread_sessions.session = session
    return session


class QuickBooksClient:
    def __init__(
        self,
        *,
        realm_id: str,
        tokens: TokenProvider,
        config: QuickBooksConfig,
        session: requests.Session | None = None,
        limiter=None,
    ) -> None:
        if not realm_id:
            raise ValueError("A QuickBooks client needs the connection's realm id.")
        self.realm_id = realm_id
        self.tokens = tokens
        self.config = config
        self.session = session or pooled_session()
        self.limiter = limiter if limiter is not None else realm_limiter()
        self.last_intuit_tid = ""
        self.calls = 0
        self.reads = 0
        self.writes = 0

    # --- transport ------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.config.endpoints.api_base}/v3/company/{self.realm_id}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        text_body: str | None = None,
        request_id: str | None = None,
    ) -> QuickBooksResponse:
        query = {"minorversion": MINOR_VERSION, **(params or {})}
        if request_id is not None:
            if len(request_id) > REQUEST_ID_MAX_LENGTH:
                raise ValueError("requestid must be at most 50 characters (QBO-REFERENCE §2.8)")
            query["requestid"] = request_id
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        elif text_body is not None:
            headers["Content-Type"] = "application/text"
        read = method == "GET" or path == "query"  # metered by Intuit (CorePlus); writes are not
        batch = path == "batch"
        reads, writes = (1, 0) if read else (0, 1)
        if batch:  # Intuit meters a batch's items, each like its own call (§2.6): a Query item reads
            items = (json_body or {}).get("BatchItemRequest") or []
            reads = sum(1 for item in items if isinstance(item, dict) and "Query" in item)
            writes = len(items) - reads
        attempt, throttles = 1, 0
        while attempt <= 3:
            token = self.tokens.access_token()
            try:
                # The limiter counts the call (reads/writes of the realm this month) as it reserves its slot.
                with self.limiter.permit(self.realm_id, batch=batch, reads=reads, writes=writes):
                    self.calls += 1
                    self.reads += reads
                    self.writes += writes
                    response = self.session.request(
                        method,
                        self.url(path),
                        params=query,
                        json=json_body,
                        data=text_body.encode() if text_body is not None else None,
                        headers={**headers, "Authorization": f"Bearer {token}"},
                        timeout=self.config.http_timeout,
                    )
            except (requests.Timeout, requests.ConnectionError) as error:
                logger.warning("qbo.client.unreachable method=%s path=%s error=%s", method, path, type(error).__name__)
                unavailable = Unavailable(f"QuickBooks could not be reached ({type(error).__name__})")
                unavailable.answer_lost = isinstance(error, requests.ReadTimeout)
                raise unavailable from None
            self.last_intuit_tid = response.headers.get(INTUIT_TID_HEADER, "")
            if response.status_code == 401 and attempt == 1:
                logger.info(
                    "qbo.client.unauthorized.refreshing realm=%s intuit_tid=%s",
                    self.realm_id,
                    self.last_intuit_tid,
                )
                self.tokens.refresh_after_rejection(token)
                attempt += 1
                continue
            if response.status_code == 401 and attempt == 2:
                # Refused right after an accepted refresh: Intuit's side may lag a moment. Once more, after a pause.
                logger.info(
                    "qbo.client.unauthorized.after_refresh realm=%s intuit_tid=%s", self.realm_id, self.last_intuit_tid
                )
                time.sleep(self.config.unauthorized_pause)
                attempt += 1
                continue
            if response.status_code >= 400:
                error = errors.from_response(response)
                if isinstance(error, Throttled):
                    wait = error.retry_after if error.retry_after is not None else errors.DEFAULT_THROTTLE_WAIT_SECONDS
                    # Every worker holds back for this realm, not only this one; not an attempt.
                    self.limiter.throttled(self.realm_id, seconds=float(wait))
                    throttles += 1
                    logger.info(
                        "qbo.client.throttled realm=%s wait=%s intuit_tid=%s", self.realm_id, wait, error.intuit_tid
                    )
                    if float(wait) <= self.limiter.max_wait and throttles <= MAX_THROTTLE_WAITS:
                        continue  # a moment: the next slot waits the block out, here
                    raise error
                logger.warning(
                    "qbo.client.error method=%s path=%s status=%s code=%s intuit_tid=%s",
                    method,
                    path,
                    response.status_code,
                    error.code,
                    error.intuit_tid,
                )
                raise error
            try:
                body = response.json()
            except ValueError:
                raise Unavailable(
                    "QuickBooks sent an answer that is not JSON",
                    status=response.status_code,
                    intuit_tid=self.last_intuit_tid,
                ) from None
            fault = errors.parse_fault_json(body)
            if fault is not None:  # a Fault can come with HTTP 200 (§3.1)
                raise errors.error_for(status=response.status_code, fault=fault, intuit_tid=self.last_intuit_tid)
            return QuickBooksResponse(body=body, status=response.status_code, intuit_tid=self.last_intuit_tid)
        raise Unauthorized("QuickBooks refused the refreshed token too", status=401, intuit_tid=self.last_intuit_tid)

    # --- operations -----------------------------------------------------------------------------------

    def query(self, statement: str, *, entity: str, page_size: int = QUERY_PAGE_SIZE) -> Iterator[dict]:
        """Run a `select * from <entity> ...` statement, following pages with STARTPOSITION/MAXRESULTS.

        https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/data-queries
        """
        start = 1
        while True:
            paged = f"{statement} STARTPOSITION {start} MAXRESULTS {page_size}"
            body = self.request("GET", "query", params={"query": paged}).body
            rows = body.get("QueryResponse", {}).get(entity, [])
            yield from rows
            if len(rows) < page_size:
                return
            start += page_size

    def find(self, entity: str, **equals) -> dict | None:
        """The first `entity` whose fields equal the given values, or None."""
        return self.query_one(select_statement(entity, **equals), entity=entity)

    def query_one(self, statement: str, *, entity: str) -> dict | None:
        body = self.request("GET", "query", params={"query": f"{statement} MAXRESULTS 1"}).body
        rows = body.get("QueryResponse", {}).get(entity, [])
        return rows[0] if rows else None

    def read(self, entity: str, entity_id: str) -> dict:
        return self._entity(self.request("GET", f"{entity.lower()}/{entity_id}"), entity)

    def create(self, entity: str, payload: dict, *, request_id: str, params: dict | None = None) -> dict:
        response = self.request("POST", entity.lower(), json_body=payload, request_id=request_id, params=params)
        return self._entity(response, entity)

    def sparse_update(self, entity: str, payload: dict, *, request_id: str) -> dict:
        """Update only the fields sent (`sparse: true`, with the current Id and SyncToken; §2.4)."""
        body = {**payload, "sparse": True}
        if not body.get("Id") or body.get("SyncToken") in (None, ""):
            raise ValueError("A sparse update needs Id and SyncToken")
        return self._entity(self.request("POST", entity.lower(), json_body=body, request_id=request_id), entity)

    def full_update(self, entity: str, payload: dict, *, request_id: str) -> dict:
        """Replace the object: every writable field left out is cleared (no `sparse` flag; §2.4). Build `payload`
        from the whole current object (`payloads.full_update_body`), never from a partial one."""
        if not payload.get("Id") or payload.get("SyncToken") in (None, ""):
            raise ValueError("A full update needs Id and SyncToken")
        body = {key: value for key, value in payload.items() if key != "sparse"}
        return self._entity(self.request("POST", entity.lower(), json_body=body, request_id=request_id), entity)

    def void(self, entity: str, *, entity_id: str, sync_token: str, request_id: str) -> dict:
        """Void a transaction. Invoices: `?operation=void` with Id and SyncToken; payments (and sales receipts):
        a sparse update with `?operation=update&include=void` (QBO-REFERENCE §2.1)."""
        if entity == "Invoice":
            params, body = {"operation": "void"}, {"Id": entity_id, "SyncToken": sync_token}
        else:
            params = {"operation": "update", "include": "void"}
            body = {"Id": entity_id, "SyncToken": sync_token, "sparse": True}
        response = self.request("POST", entity.lower(), params=params, json_body=body, request_id=request_id)
        return self._entity(response, entity)

    def batch(self, items: list[dict], *, request_id: str | None = None) -> list[dict]:
        """Up to 30 operations in one call (§2.6). Returns `BatchItemResponse` entries (each may hold a Fault)."""
        if not items or len(items) > BATCH_MAX_ITEMS:
            raise ValueError(f"A batch holds 1 to {BATCH_MAX_ITEMS} items")
        if request_id is not None and len(request_id) > BATCH_REQUEST_ID_MAX_LENGTH:
            raise ValueError("A batch requestid must be at most 36 characters")
        body = self.request("POST", "batch", json_body={"BatchItemRequest": items}, request_id=request_id).body
        return body.get("BatchItemResponse", [])

    def cdc(self, entities: list[str], *, changed_since: dt.datetime) -> dict[str, list[dict]]:
        """Objects of `entities` changed since `changed_since` (≤ 30 days back; §2.7)."""
        body = self.request(
            "GET", "cdc", params={"entities": ",".join(entities), "changedSince": changed_since.isoformat()}
        ).body
        changed: dict[str, list[dict]] = {entity: [] for entity in entities}
        for block in body.get("CDCResponse", []):
            for part in [block, *block.get("QueryResponse", [])]:
                # A Fault inside the 200 answer (§3.1) means that part is missing: never read it as "no changes".
                fault = errors.parse_fault_json(part)
                if fault is not None:
                    raise errors.error_for(status=200, fault=fault, intuit_tid=self.last_intuit_tid)
            for query_response in block.get("QueryResponse", []):
                for entity, rows in query_response.items():
                    if isinstance(rows, list):
                        changed.setdefault(entity, []).extend(rows)
        return changed

    def company_info(self) -> CompanyInfo:
        body = self.read("CompanyInfo", self.realm_id)
        country = body.get("Country") or (body.get("CompanyAddr") or {}).get("Country", "")
        return CompanyInfo(
            company_name=body.get("CompanyName", ""),
            legal_name=body.get("LegalName", ""),
            country=country,
            intuit_tid=self.last_intuit_tid,
        )

    def preferences(self) -> dict:
        return self._entity(self.request("GET", "preferences"), "Preferences")

    @staticmethod
    def _entity(response: QuickBooksResponse, entity: str) -> dict:
        value = response.body.get(entity)
        if not isinstance(value, dict):
            raise ValidationFailed(
                f"QuickBooks' answer holds no {entity}",
                status=response.status,
                intuit_tid=response.intuit_tid,
            )
        return value


__all__ = ["QuickBooksClient", "QuickBooksError", "QuickBooksResponse", "TokenProvider", "quote"]

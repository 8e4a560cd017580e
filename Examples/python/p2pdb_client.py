"""A small client for a P2PDB node's HTTP API, with Python's standard library only.

    from p2pdb_client import Client
    node = Client("http://127.0.0.1:7070", token)
    node.sql("INSERT INTO sales VALUES (?, ?, ?)", ["s-1", "apple", 2])
    for row in node.query("SELECT item, sum(qty) FROM sales GROUP BY item"):
        print(row)
    for event in node.changes(since_beginning=True, include_rows=True):
        print(event["entry"], event["changes"])

Values travel as JSON (docs/FORMATS.md, section 7.3): integers and reals as
numbers, text as strings, NULL as None, and blobs as {"base64": "..."}, which
this client turns into and from `bytes`.
"""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request


class P2PDBError(Exception):
    """An error the node answered with: its HTTP status, code and message."""

    def __init__(self, status, code, message):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _encode(value):
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _decode(value):
    if isinstance(value, dict) and set(value) == {"base64"}:
        return base64.b64decode(value["base64"])
    return value


class Client:
    def __init__(self, url, token, timeout=30):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _open(self, method, path, body=None, timeout=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            try:
                problem = json.load(error)["error"]
            except (ValueError, KeyError, TypeError):
                problem = {"code": f"http_{error.code}", "message": error.reason}
            raise P2PDBError(error.code, problem["code"], problem["message"]) from None

    def _request(self, method, path, body=None):
        with self._open(method, path, body, timeout=self.timeout) as response:
            return json.load(response)

    def sql(self, sql, params=()):
        """Runs SQL as one transaction; the answer of POST /v1/sql."""
        return self._request("POST", "/v1/sql", {"sql": sql, "params": [_encode(p) for p in params]})

    def query(self, sql, params=()):
        """The rows of a query, as lists of Python values."""
        answer = self.sql(sql, params)
        return [[_decode(v) for v in row] for row in answer.get("rows", [])]

    def transaction(self, statements):
        """Runs [(sql, params), ...] as one transaction, all or nothing."""
        body = {"statements": [{"sql": sql, "params": [_encode(p) for p in params]} for sql, params in statements]}
        return self._request("POST", "/v1/tx", body)

    def status(self):
        return self._request("GET", "/v1/status")

    def _events(self, path):
        """Server-Sent Events as dicts of their fields ("event", "id", "data")."""
        with self._open("GET", path) as response:
            event = {}
            for raw in response:
                line = raw.decode("utf-8").rstrip("\n")
                if line == "":
                    if "data" in event:
                        yield event
                    event = {}
                elif not line.startswith(":"):
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    event[field] = event[field] + "\n" + value if field in event else value

    def changes(self, since_beginning=False, include_rows=False, table=None, after=None):
        """Every entry the node applies, as dicts (docs/FORMATS.md 7.7), until the node stops."""
        query = {}
        if since_beginning:
            query["since"] = "0"
        if include_rows:
            query["include_rows"] = "true"
        if table:
            query["table"] = table
        if after:
            query["after"] = after
        path = "/v1/changes" + ("?" + urllib.parse.urlencode(query) if query else "")
        for event in self._events(path):
            yield json.loads(event["data"])

    def subscribe(self, sql, params=(), key=None):
        """A live query: yields ("snapshot", {"columns", "rows"}) then ("diff", {"entered", "changed", "left"})."""
        body = {"sql": sql, "params": [_encode(p) for p in params]}
        if key:
            body["key"] = list(key)
        registered = self._request("POST", "/v1/subscriptions", body)
        for event in self._events(registered["events"]):
            yield event.get("event", "message"), json.loads(event["data"])

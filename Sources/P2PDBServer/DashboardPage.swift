import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /`: the dashboard, one page with no build step and nothing fetched
/// from elsewhere. It holds no data: it asks for a token (a read-only one is
/// enough; `#token=...` in a bookmark works too, and is never sent to the
/// node), keeps it in the tab's session storage, and calls the API as any
/// client would: `/v1/status` (the node, its peers), `/v1/entries` (recent
/// entries and their row changes), `/v1/sql` with `read_only` (tables, row
/// counts, the console), and the change feed with a ticket for live updates.
enum DashboardPage {
    static var response: Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .cacheControl: "no-cache",
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'none'",
                .xContentTypeOptions: "nosniff",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>P2PDB node</title>
<style>
  :root { --fg: #1d2329; --muted: #66707a; --line: #d8dde2; --ok: #1f7a3a; --bad: #b3261e; --accent: #2457a6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: #f6f7f9; }
  header { background: #1d2329; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .live { margin-left: auto; font-size: 12px; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; overflow: auto; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--muted); font-weight: 600; }
  code, .mono, #node td:last-child { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
  .ok { color: var(--ok); } .bad { color: var(--bad); } .muted { color: var(--muted); }
  textarea { width: 100%; min-height: 70px; font-family: ui-monospace, monospace; }
  button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: 6px 12px; cursor: pointer; }
  #login { max-width: 420px; margin: 60px auto; background: #fff; padding: 20px; border: 1px solid var(--line); border-radius: 6px; }
  #login input { width: 100%; padding: 6px; margin: 8px 0; font-family: ui-monospace, monospace; }
  .hidden { display: none; }
</style>
</head>
<body>
<header><h1>P2PDB</h1><span id="title" class="mono"></span><span id="live" class="live muted">not connected</span></header>
<form id="login" class="hidden">
  <h2>Sign in to this node</h2>
  <p class="muted">Paste an API token (a read-only one is enough): <code>p2pdb token --data DIR</code> prints the node's own.
  It stays in this tab only.</p>
  <input id="token" type="password" autocomplete="off" placeholder="API token">
  <button type="submit">Open</button>
  <p id="login-error" class="bad"></p>
</form>
<main id="dashboard" class="hidden">
  <section><h2>This node</h2><table id="node"></table></section>
  <section><h2>Peers</h2><table id="peers"></table></section>
  <section><h2>Tables</h2><table id="tables"></table></section>
  <section class="wide"><h2>Recent entries</h2><table id="entries"></table></section>
  <section class="wide"><h2>SQL (reads only)</h2>
    <form id="console"><textarea id="sql">SELECT name FROM sqlite_schema WHERE type = 'table'</textarea>
    <button type="submit">Run</button></form>
    <div id="result"></div></section>
</main>
<script>
"use strict";
const state = { token: null, lastEntry: null, source: null, refreshing: false, again: false };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function fill(table, head, rows) {
  table.replaceChildren();
  const tr = el("tr");
  head.forEach(h => tr.append(el("th", h)));
  table.append(tr);
  rows.forEach(cells => {
    const row = el("tr");
    cells.forEach(c => row.append(c instanceof Node ? el("td").appendChild(c).parentNode : el("td", c)));
    table.append(row);
  });
  if (rows.length === 0) { const row = el("tr"); const td = el("td", "none", "muted"); td.colSpan = head.length; row.append(td); table.append(row); }
}
function show(value) {
  if (value === null) return "NULL";
  if (typeof value === "object" && "base64" in value) return "blob(" + atob(value.base64).length + " bytes)";
  return typeof value === "string" ? value : JSON.stringify(value);
}
function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return seconds < 60 ? seconds + " s ago" : Math.round(seconds / 60) + " min ago";
}
function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return (d ? d + " d " : "") + (h ? h + " h " : "") + m + " min";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: { "Authorization": "Bearer " + state.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(json && json.error ? json.error.message : "HTTP " + response.status);
    error.status = response.status;
    throw error;
  }
  return json;
}

async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try {
    const [status, recent] = await Promise.all([api("GET", "/v1/status"), api("GET", "/v1/entries?order=newest&limit=15")]);
    document.getElementById("title").textContent = status.node_id.slice(0, 16);
    document.title = "P2PDB " + status.node_id.slice(0, 8);
    fill(document.getElementById("node"), ["", ""], [
      ["node ID", status.node_id], ["version", status.version], ["up for", duration(status.uptime_seconds)],
      ["entries", status.entries], ["state hash", status.state_hash], ["heads", status.heads.length],
      ["network", status.network.mode === "private" ? "private: " + status.network.name : "open"],
      ["writes", status.awaiting_own_history ? el("span", "waiting for its own earlier entries", "bad") : el("span", "accepted", "ok")],
      ["pending entries", status.pending_entries], ["equivocations", status.equivocations.length]]);
    fill(document.getElementById("peers"), ["address", "node", "state", "behind", "ahead", "last contact", "round trip", "last error"],
      status.peers.map(p => [p.address, (p.node_id || "?").slice(0, 8),
        el("span", p.connected ? "connected" : "not connected", p.connected ? "ok" : "bad"),
        p.entries_behind, p.entries_ahead, ago(p.last_contact), p.round_trip_ms === null ? "" : p.round_trip_ms + " ms",
        p.last_error ? el("span", p.last_error + " (" + ago(p.last_error_at) + ")", "bad") : ""]));
    fill(document.getElementById("entries"), ["time", "author", "seq", "changes"],
      recent.entries.map(e => [new Date(e.time).toLocaleString(), e.author.slice(0, 8), e.seq,
        el("span", e.schema.map(s => s.op + " " + (s.table || s.name)).concat(e.changes.map(c =>
          c.op + " " + c.table + " " + Object.entries(c.key).map(([k, v]) => k + "=" + show(v)).join(",") +
          (c.values ? " " + Object.entries(c.values).map(([k, v]) => k + "=" + show(v)).join(" ") : "") +
          (c.deltas ? " " + Object.entries(c.deltas).map(([k, v]) => k + (v < 0 ? "" : "+") + v).join(" ") : ""))).join("; "), "mono")]));
    const names = await api("POST", "/v1/sql", { sql: "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_p2pdb%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", read_only: true });
    const tables = names.rows.map(r => r[0]);
    const counts = tables.length === 0 ? { rows: [] } : await api("POST", "/v1/sql", { read_only: true,
      sql: tables.map(t => "SELECT count(*) FROM \"" + t.replaceAll("\"", "\"\"") + "\"").join(" UNION ALL ") });
    fill(document.getElementById("tables"), ["table", "rows"], tables.map((t, i) => [t, counts.rows[i] ? counts.rows[i][0] : "?"]));
  } catch (error) {
    if (error.status === 401) { signOut("That token was refused."); return; }
    document.getElementById("live").textContent = "error: " + error.message;
  } finally {
    state.refreshing = false;
    if (state.again) { state.again = false; refresh(); }
  }
}

async function listen() {
  try {
    const { ticket } = await api("POST", "/v1/tickets");
    const after = state.lastEntry ? "&after=" + state.lastEntry : "";
    const source = new EventSource("/v1/changes?ticket=" + encodeURIComponent(ticket) + after);
    state.source = source;
    source.onopen = () => { const live = document.getElementById("live"); live.textContent = "live"; live.className = "live ok"; };
    source.onmessage = event => { state.lastEntry = event.lastEventId; refresh(); };
    source.onerror = () => {
      // A ticket opens a stream only in its first minute: reconnect with a new one.
      source.close();
      document.getElementById("live").textContent = "reconnecting";
      document.getElementById("live").className = "live muted";
      setTimeout(listen, 2000);
    };
  } catch (error) {
    setTimeout(listen, 5000);
  }
}

function runConsole(event) {
  event.preventDefault();
  const result = document.getElementById("result");
  result.replaceChildren(el("p", "running…", "muted"));
  api("POST", "/v1/sql", { sql: document.getElementById("sql").value, read_only: true }).then(answer => {
    const table = el("table");
    fill(table, answer.columns || ["changes"], (answer.rows || []).map(r => r.map(show)));
    result.replaceChildren(table, el("p", (answer.rows || []).length + " rows", "muted"));
  }, error => result.replaceChildren(el("p", (error.status === 403 ? "The console only reads: " : "") + error.message, "bad")));
}

function signOut(message) {
  sessionStorage.removeItem("p2pdbToken");
  if (state.source) state.source.close();
  state.token = null;
  document.getElementById("dashboard").classList.add("hidden");
  document.getElementById("login").classList.remove("hidden");
  document.getElementById("login-error").textContent = message || "";
}

function start(token) {
  state.token = token;
  sessionStorage.setItem("p2pdbToken", token);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("dashboard").classList.remove("hidden");
  refresh();
  listen();
  setInterval(refresh, 5000);
}

document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  start(document.getElementById("token").value.trim());
});
document.getElementById("console").addEventListener("submit", runConsole);
// A bookmark may carry the token in the fragment, which is never sent to the server.
const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fragment) history.replaceState(null, "", location.pathname);
const saved = fragment || sessionStorage.getItem("p2pdbToken");
if (saved) start(saved); else signOut();
</script>
</body>
</html>
"""#
}

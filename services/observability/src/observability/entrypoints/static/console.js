"use strict";
// The Tandem operations console: hash-routed views over observability's /v1 API.
// Everything shown is built from DOM nodes and text, never from markup, so no value read from
// the API can become markup or script. Hiding an action the caller's scopes do not allow is a
// courtesy: the API decides, and its refusal is shown as it gave it.
(() => {
  const KEY_STORAGE = "tandem.console.api-key";
  const session = { who: null };
  let renders = 0;

  class ApiError extends Error {
    constructor(status, detail, errors) {
      super(`${status}: ${detail}`);
      this.status = status;
      this.detail = detail;
      this.errors = errors;
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, cache: "no-store", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : response.statusText;
      throw new ApiError(response.status, detail, Array.isArray(data?.errors) ? data.errors : []);
    }
    return data;
  }

  function describe(err) {
    if (!(err instanceof ApiError)) return `error: ${err?.message ?? err}`;
    const fields = err.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    return fields ? `${err.status}: ${err.detail} (${fields})` : `${err.status}: ${err.detail}`;
  }

  // ---- building nodes -------------------------------------------------------------------

  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "testid") node.dataset.testid = value;
      else if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child)); // a string becomes a text node
    }
    return node;
  }

  const enc = encodeURIComponent;
  const hash = (...parts) => `#${parts.map((p) => enc(p)).join("/")}`;
  const link = (target, text, testid) => h("a", { href: target, testid }, text);
  const token = (value) => String(value ?? "").replace(/[^A-Za-z0-9_-]/g, "");
  const can = (scope) => Boolean(session.who?.scopes.includes(scope));

  function fmt(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function time(iso) {
    if (!iso) return "—";
    const shown = String(iso).replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z");
    return h("time", { datetime: iso, title: iso }, shown);
  }

  function safeHref(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch { return null; }
  }

  const errorNode = (err) => h("p", { class: "error", testid: "error", role: "alert" }, describe(err));

  // columns: [label, row => node or text]; an empty list says so instead of an empty table.
  function table(testid, columns, rows, rowTestid, rowClass = () => null) {
    if (!rows || rows.length === 0) return h("p", { class: "empty", testid: `${testid}-empty` }, "none");
    return h("table", { testid },
      h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", {}, label)))),
      h("tbody", {}, rows.map((row) => h("tr", { testid: rowTestid, class: rowClass(row) },
        columns.map(([, cell]) => h("td", {}, cell(row)))))));
  }

  // Every key the rows have, in first-seen order: for the KPI tables, whose columns may grow.
  function records(testid, rows, rowTestid) {
    const names = [...new Set((rows ?? []).flatMap((row) => Object.keys(row)))];
    return table(testid, names.map((name) => [name.replaceAll("_", " "), (r) => fmt(r[name])]),
      rows, rowTestid);
  }

  const dl = (testid, pairs) =>
    h("dl", { testid }, pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));

  async function part(load, render) {
    try { return render(await load()); } catch (err) { return errorNode(err); }
  }

  function show(node, kind, text) {
    node.className = kind;
    node.textContent = text;
  }

  // ---- search, timelines, business keys -------------------------------------------------

  async function searchView(query = "") {
    const input = h("input", { type: "search", testid: "search-input", value: query,
      "aria-label": "any id", placeholder: "any id: timesheet, project, invoice, event, ERP line…" });
    const form = h("form", { class: "search", testid: "search-form", onsubmit: (event) => {
      event.preventDefault();
      if (input.value.trim()) go("search", input.value.trim());
    } }, input, h("button", { type: "submit", testid: "search-submit" }, "Search"));
    const results = query
      ? await part(() => api(`/v1/search?q=${enc(query)}`), (found) => h("ul",
        { class: "results", testid: "search-results" },
        found.matches.length ? found.matches.map(matchItem) : h("li", { testid: "no-match" },
          `nothing names ${found.query}`)))
      : null;
    return h("section", {}, h("h2", {}, "Search"), form, results);
  }

  function matchItem(match) {
    const ids = match.correlation_ids ?? [];
    let target = hash("key", match.kind, match.id);
    if (match.kind === "correlation") target = hash("timeline", match.id);
    else if (ids.length === 1) target = hash("timeline", ids[0]);
    return h("li", { testid: "search-result", "data-kind": match.kind },
      link(target, `${match.kind} ${match.id}`, "search-result-link"),
      ` · ${match.steps} step(s) in ${ids.length} timeline(s) · `, time(match.first_at), " → ",
      time(match.last_at),
      ids.length > 1 ? h("ul", {}, ids.map((cid) => h("li", {}, link(hash("timeline", cid), cid)))) : null);
  }

  async function timelineView(cid) {
    const t = await api(`/v1/timelines/${enc(cid)}`);
    return h("section", { testid: "timeline" },
      h("h2", {}, "Timeline ", h("code", { testid: "timeline-id" }, t.correlation_id)),
      dl("timeline-summary", [
        ["status", h("span", { class: `status status-${token(t.status)}`, testid: "timeline-status" },
          t.status)],
        ["started", time(t.started_at)], ["last step", time(t.last_at)],
        ["services", (t.services ?? []).join(", ")],
        ["stuck", (t.stuck ?? []).length ? h("ul", { class: "keys", testid: "timeline-stuck" },
          t.stuck.map((s) => h("li", { class: `outcome-${token(s.outcome)}` },
            `${s.subject_type} ${s.subject_id}: ${s.event_type} ${s.outcome}`))) : "nothing"],
      ]),
      stepsTable(t.steps));
  }

  async function keyView(kind, id) {
    const found = await api(`/v1/keys/${enc(kind)}/${enc(id)}`);
    return h("section", { testid: "key" },
      h("h2", {}, `Every step naming ${found.kind} `, h("code", {}, found.id)),
      h("p", {}, "Timelines: ", (found.correlation_ids ?? []).map((cid) =>
        [link(hash("timeline", cid), cid, "key-timeline"), " "])),
      stepsTable(found.steps));
  }

  // keys may come as {kind: id}, {kind: [ids]}, [[kind, id]] or [{kind, id}].
  function keyPairs(keys) {
    if (Array.isArray(keys)) return keys.map((k) => (Array.isArray(k) ? k : [k.kind, k.id]));
    return Object.entries(keys ?? {}).flatMap(([kind, ids]) =>
      (Array.isArray(ids) ? ids : [ids]).map((id) => [kind, id]));
  }

  function traceCell(step) {
    const href = step.trace_url ? safeHref(step.trace_url) : null;
    if (href) {
      return h("a", { href, testid: "trace-link", target: "_blank", rel: "noopener noreferrer" },
        step.trace_id ?? "trace");
    }
    return step.trace_id ? h("code", { testid: "trace-id" }, step.trace_id) : "—";
  }

  function stepsTable(steps) {
    return table("steps", [
      ["time", (s) => time(s.occurred_at)],
      ["service", (s) => h("span", { testid: "step-service" }, s.service)],
      ["event", (s) => [h("span", { testid: "step-event" }, s.event_type), h("br"),
        h("small", {}, `${s.subject_type} ${s.subject_id}`)]],
      ["outcome", (s) => h("span", { class: `outcome outcome-${token(s.outcome)}`,
        testid: "step-outcome" }, s.reason ? `${s.outcome} (${s.reason})` : s.outcome)],
      ["business keys", (s) => h("ul", { class: "keys" }, keyPairs(s.keys).map(([kind, id]) =>
        h("li", {}, link(hash("key", kind, id), `${kind} ${id}`, "step-key"))))],
      ["system ids", (s) => h("ul", { class: "keys" }, (s.system_ids ?? []).map((x) =>
        h("li", { testid: "system-id", title: `instance ${x.instance}` },
          `${x.system} ${x.object} ${x.id}`)))],
      ["trace", traceCell],
    ], steps, "step");
  }

  // ---- parking lots and the audit ------------------------------------------------------

  async function parkedView(service, id) {
    if (service && id) return parkedDetailView(service, id);
    const lots = await api("/v1/parking-lots");
    return h("section", { testid: "parking-lots" }, h("h2", {}, "Parking lots"),
      lots.services.length ? lots.services.map(lotSection)
        : h("p", {}, "No service's parking lot is configured."));
  }

  function lotSection(lot) {
    return h("section", { class: "lot", testid: "lot", "data-service": lot.service },
      h("h3", {}, lot.service, " ", h("span", { class: lot.reachable ? "badge ok" : "badge bad" },
        lot.reachable ? "reachable" : "unreachable")),
      lot.error ? h("p", { class: "error", testid: "lot-error" }, lot.error) : null,
      lot.reachable ? table("parked-items", [
        ["parked at", (m) => time(m.parked_at)],
        ["event type", (m) => h("span", { testid: "parked-event-type" }, m.event_type ?? "(undecodable)")],
        ["reason", (m) => h("span", { testid: "parked-reason" }, m.reason)],
        ["attempts", (m) => fmt(m.attempts)],
        ["status", (m) => m.status],
        ["", (m) => link(hash("parked", lot.service, m.id), "open", "parked-open")],
      ], lot.items, "parked-item") : null);
  }

  async function parkedDetailView(service, id) {
    const result = h("p", { testid: "action-result", role: "status" });
    const body = h("div", {});
    const load = async () => body.replaceChildren(await part(
      () => api(`/v1/parking-lots/${enc(service)}/messages/${enc(id)}`), parkedDetail));
    await load();
    return h("section", { testid: "parked-detail" },
      h("h2", {}, `Parked in ${service}`), link(hash("parked"), "← all parking lots"),
      body, actionsForm(service, id, result, load), result);
  }

  function parkedDetail(d) {
    const message = d.envelope ? JSON.stringify(d.envelope, null, 2) : `undecodable: ${d.decode_error}`;
    return h("div", {},
      dl("parked-facts", [
        ["id", d.id], ["status", h("span", { testid: "parked-status" }, d.status)],
        ["reason", h("strong", { testid: "parked-detail-reason" }, d.reason)],
        ["detail", h("span", { testid: "parked-detail-text" }, d.detail)],
        ["event", `${d.event_type ?? "(undecodable)"} ${d.event_id ?? ""}`],
        ["consumer", d.consumer], ["queue", d.queue ?? "—"], ["routing key", d.routing_key],
        ["waiting for", d.waiting_for ?? "—"],
      ]),
      h("h3", {}, "History"),
      h("ol", { testid: "parked-history" },
        h("li", {}, "first failed ", time(d.first_failure_at)),
        h("li", {}, `failed ${d.attempts} time(s), last `, time(d.last_failure_at)),
        h("li", {}, "parked ", time(d.parked_at)),
        d.resolved_at ? h("li", {}, `${d.status} `, time(d.resolved_at)) : null),
      h("h3", {}, "Message"), h("pre", { testid: "parked-envelope" }, message),
      h("h3", {}, "Headers"), h("pre", { testid: "parked-headers" },
        JSON.stringify(d.headers ?? {}, null, 2)));
  }

  function actionsForm(service, id, result, reload) {
    const why = h("input", { type: "text", testid: "action-why", maxlength: "500",
      "aria-label": "reason", placeholder: "why (audited)" });
    const act = async (action, done) => {
      const reason = why.value.trim();
      if (!reason) {
        show(result, "error", `${action} refused: give a reason, it is audited`);
        why.focus();
        return;
      }
      show(result, "", `${action}: sending…`);
      try {
        const answer = await api(`/v1/parking-lots/${enc(service)}/${action}`,
          { method: "POST", body: { ids: [id], why: reason } });
        show(result, "ok",
          `${done} ${answer.count} message(s): action ${answer.action_id}, audit ${answer.audit_id}`);
        why.value = "";
        await reload();
      } catch (err) {
        show(result, "error", `${action} refused: ${describe(err)}`);
      }
    };
    const replay = h("button", { type: "button", testid: "replay",
      onclick: () => act("replay", "replayed") }, "Replay");
    const discard = h("button", { type: "button", testid: "discard", class: "danger",
      onclick: () => act("discard", "discarded") }, "Discard");
    replay.hidden = !can("parked:replay");
    discard.hidden = !can("parked:discard");
    const form = h("form", { class: "actions", testid: "parked-actions",
      onsubmit: (event) => event.preventDefault() }, h("label", {}, "Reason ", why), replay, discard);
    form.hidden = replay.hidden && discard.hidden;
    return form;
  }

  async function auditView() {
    const audit = await api("/v1/audit?limit=100");
    return h("section", {}, h("h2", {}, "Audit of replays and discards"), table("audit", [
      ["at", (a) => time(a.at)],
      ["actor", (a) => h("span", { testid: "audit-actor" }, a.actor)],
      ["action", (a) => h("span", { testid: "audit-action" }, a.action)],
      ["service", (a) => h("span", { testid: "audit-service" }, a.service)],
      ["count", (a) => fmt(a.count)],
      ["outcome", (a) => h("span", { testid: "audit-outcome" }, a.outcome ?? "—")],
      ["why", (a) => h("span", { testid: "audit-why" }, a.why)],
      ["ids", (a) => h("small", {}, (a.ids ?? []).join(" "))],
    ], audit.items, "audit-entry"));
  }

  // ---- KPIs, SLOs, reconciliation, fleet ----------------------------------------------

  async function kpisView(region = "") {
    const input = h("input", { type: "text", value: region, testid: "kpi-region-input",
      "aria-label": "region", placeholder: "every region" });
    const form = h("form", { class: "search", onsubmit: (event) => {
      event.preventDefault();
      if (input.value.trim()) go("kpis", input.value.trim()); else go("kpis");
    } }, input, h("button", { type: "submit" }, "Show"));
    const kpis = await api(region ? `/v1/kpis?region=${enc(region)}` : "/v1/kpis");
    const regions = Object.entries(kpis.regions ?? {});
    return h("section", {}, h("h2", {}, "KPIs"), form,
      h("p", {}, "Computed ", time(kpis.computed_at)),
      regions.length ? regions.map(([name, k]) => regionKpis(name, k))
        : h("p", { class: "empty" }, "No KPIs yet."));
  }

  function regionKpis(name, k) {
    const completeness = Object.entries(k.completeness ?? {}).map(([domain, c]) => ({ domain, ...c }));
    return h("section", { class: "region", testid: "kpi-region", "data-region": name },
      h("h3", {}, `Region ${name}`),
      h("h4", {}, "Completeness"), records("kpi-completeness", completeness),
      h("h4", {}, "Approval lag (hours)"), records("kpi-approval-lag", [k.approval_lag_hours ?? {}]),
      h("h4", {}, "Time to invoice (days)"), records("kpi-time-to-invoice", [k.time_to_invoice_days ?? {}]),
      h("h4", {}, "Unbilled WIP"), records("kpi-unbilled-wip", k.unbilled_wip),
      h("h4", {}, "Realization"), records("kpi-realization", k.realization),
      h("h4", {}, "Utilization"), records("kpi-utilization", k.utilization),
      h("h4", {}, "Leakage"), records("kpi-leakage", k.leakage));
  }

  async function slosView() {
    const { slos } = await api("/v1/slos");
    return h("section", {}, h("h2", {}, "Service level objectives"), table("slos", [
      ["name", (s) => h("span", { title: s.description }, s.name)],
      ["objective", (s) => fmt(s.objective)],
      ["good / total", (s) => `${fmt(s.good)} / ${fmt(s.total)}`],
      ["ratio", (s) => fmt(s.ratio)],
      ["budget remaining", (s) => fmt(s.budget_remaining)],
      ["burn rates", (s) => Object.entries(s.burn_rates ?? {}).map(([w, r]) => `${w} ${fmt(r)}`).join(" · ")],
      ["alerting", (s) => (s.alerting
        ? h("strong", { class: "alert", testid: "slo-alerting" }, s.alerting) : "no")],
    ], slos, "slo", (s) => (s.alerting ? "alerting" : null)));
  }

  async function reconciliationView() {
    const { domains } = await api("/v1/reconciliation");
    return h("section", {}, h("h2", {}, "Reconciliation"),
      domains.length ? domains.map((d) => h("section", { testid: "recon-domain", "data-domain": d.domain },
        h("h3", {}, d.domain), h("p", {}, "Last run ", time(d.last_run_at)),
        h("p", {}, "Mismatches: ", Object.entries(d.mismatches ?? {}).map(([k, n]) => `${k} ${n}`).join(" · ") || "none"),
        table("recon-recent", [
          ["detected", (m) => time(m.detected_at)], ["kind", (m) => m.kind],
          ["scope", (m) => m.scope_key], ["project", (m) => m.project_id ?? "—"],
          ["service", (m) => m.service], ["run", (m) => h("small", {}, m.run_id)],
        ], d.recent, "recon-mismatch")))
        : h("p", { class: "empty" }, "No reconciliation has run."));
  }

  async function fleetView() {
    const fleet = await api("/v1/fleet");
    const unavailable = (testid, why) => h("p", { class: "error", testid }, `unavailable: ${why}`);
    return h("section", {}, h("h2", {}, "Fleet"), h("p", {}, "Read ", time(fleet.read_at)),
      h("h3", {}, "Workloads"),
      fleet.workloads_error != null
        ? unavailable("fleet-workloads-error", fleet.workloads_error)
        : table("workloads", [
          ["service", (w) => w.service], ["role", (w) => w.role], ["desired", (w) => fmt(w.desired)],
          ["ready", (w) => fmt(w.ready)], ["restarts", (w) => fmt(w.restarts)],
          ["versions", (w) => (w.versions ?? []).join(", ")],
        ], fleet.workloads, "workload", (w) => (w.ready < w.desired ? "degraded" : null)),
      h("h3", {}, "Queues"),
      fleet.queues_error != null
        ? unavailable("fleet-queues-error", fleet.queues_error)
        : table("queues", [
          ["queue", (q) => q.name], ["ready", (q) => fmt(q.messages)],
          ["unacked", (q) => fmt(q.messages_unacked)], ["consumers", (q) => fmt(q.consumers)],
          ["group", (q) => q.consumer_group ?? "—"], ["partition", (q) => fmt(q.partition)],
          ["owner", (q) => q.owner ?? "—"],
        ], fleet.queues, "queue"));
  }

  // ---- routing and the session -------------------------------------------------------

  const VIEWS = {
    search: searchView, timeline: timelineView, key: keyView, parked: parkedView,
    audit: auditView, kpis: kpisView, slos: slosView, reconciliation: reconciliationView,
    fleet: fleetView,
  };
  const TABS = { timeline: "search", key: "search" };

  function go(...parts) {
    const target = hash(...parts);
    if (location.hash === target) render(); else location.hash = target;
  }

  function route() {
    try {
      const [name, ...args] = location.hash.slice(1).split("/").map(decodeURIComponent);
      return VIEWS[name] ? [name, args] : ["search", []];
    } catch { return ["search", []]; }
  }

  async function render() {
    const main = document.getElementById("view");
    if (!session.who) {
      main.replaceChildren(h("p", {}, "Sign in with an API key to use the console."));
      return;
    }
    const [name, args] = route();
    for (const tab of document.querySelectorAll("#tabs a")) {
      tab.toggleAttribute("aria-current", tab.dataset.view === (TABS[name] ?? name));
    }
    const mine = ++renders;
    main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
    let node;
    try { node = await VIEWS[name](...args); } catch (err) { node = errorNode(err); }
    if (mine === renders) main.replaceChildren(node);
  }

  function showSession(message) {
    const who = session.who;
    document.getElementById("sign-in").hidden = Boolean(who);
    document.getElementById("signed-in").hidden = !who;
    document.getElementById("tabs").hidden = !who;
    document.getElementById("subject").textContent = who ? who.subject : "";
    document.getElementById("scopes").replaceChildren(...(who ? who.scopes : []).map((scope) =>
      h("span", { class: "scope", testid: "scope" }, scope)));
    for (const tab of document.querySelectorAll("#tabs a[data-scope]")) tab.hidden = !can(tab.dataset.scope);
    const note = document.getElementById("session-message");
    note.textContent = message ?? "";
    note.hidden = !message;
  }

  async function signIn(key) {
    sessionStorage.setItem(KEY_STORAGE, key);
    try {
      const who = await api("/v1/whoami");
      session.who = { subject: String(who.subject), scopes: (who.scopes ?? []).map(String) };
      showSession(null);
    } catch (err) {
      sessionStorage.removeItem(KEY_STORAGE);
      session.who = null;
      showSession(err instanceof ApiError && err.status === 401
        ? `not signed in: ${err.detail}` : `sign-in failed: ${describe(err)}`);
    }
    await render();
  }

  function signOut() {
    sessionStorage.removeItem(KEY_STORAGE);
    session.who = null;
    showSession(null);
    render();
  }

  document.getElementById("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("api-key");
    const key = input.value.trim();
    input.value = "";
    if (key) signIn(key);
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", render);
  const stored = sessionStorage.getItem(KEY_STORAGE);
  if (stored) signIn(stored); else showSession(null);
})();

// Hinterland console: plain JS, no build step, no network but this API.
// Data arrives as Snapshot objects (GET /snapshot, then the /stream server-sent events),
// already filtered by the server for the user's clearance.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const LEVELS = ["public", "restricted", "military"];
const ROUTE_COLOURS = ["#0b57d0", "#7b1fa2", "#00796b", "#c2185b", "#5d4037", "#283593", "#2e7d32", "#ef6c00"];

const state = {
  token: sessionStorage.getItem("hinterland.token"),
  me: null,
  snapshot: null,
  selected: null, // {kind: "link" | "node", id}
  stream: null, // AbortController of the live stream
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function li(html) {
  const item = document.createElement("li");
  item.innerHTML = html;
  return item;
}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function toast(message, bad = false) {
  const box = $("toast");
  box.textContent = message;
  box.className = bad ? "toast bad" : "toast";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, bad ? 8000 : 4000);
}

function tonnes(kg) { return `${(kg / 1000).toLocaleString(undefined, {maximumFractionDigits: 1})} t`; }
function hhmm(iso) { return iso ? new Date(iso).toISOString().slice(11, 16) + "Z" : ""; }

// --- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = {Authorization: `Bearer ${state.token}`};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (response.status === 401) {
    const detail = (await response.json().catch(() => ({}))).detail || "session ended";
    logout(`Logged out: ${detail}`);
    throw new ApiError(401, detail);
  }
  if (!response.ok) {
    const payload = await response.json().catch(() => ({}));
    let detail = payload.detail || response.statusText;
    if (Array.isArray(detail)) detail = detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ");
    throw new ApiError(response.status, detail);
  }
  return response.json();
}

// --- session --------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const form = new URLSearchParams({username: $("username").value, password: $("password").value});
  const response = await fetch("/login/token", {method: "POST", body: form});
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("login-error").textContent = payload.detail || "login failed";
    return;
  }
  state.token = payload.access_token;
  sessionStorage.setItem("hinterland.token", state.token);
  $("password").value = "";
  await start();
}

function logout(message = "") {
  if (state.stream) state.stream.abort();
  state.stream = null;
  state.token = null;
  state.me = null;
  state.snapshot = null;
  sessionStorage.removeItem("hinterland.token");
  $("console-view").hidden = true;
  $("login-view").hidden = false;
  $("logout").hidden = true;
  $("whoami").textContent = "";
  $("exercise-banner").hidden = true;
  setConnection("off", "offline");
  $("login-error").textContent = message;
  $("username").focus();
}

function can(role) { return state.me && state.me.roles.includes(role); }

async function start() {
  try {
    state.me = await api("GET", "/me");
  } catch (err) {
    return;
  }
  const me = state.me;
  $("login-view").hidden = true;
  $("console-view").hidden = false;
  $("logout").hidden = false;
  $("whoami").textContent = `${me.username} · ${me.roles.join(", ")} · cleared ${me.clearance}`;
  const cls = $("need-classification");
  cls.innerHTML = "";
  for (const level of LEVELS.slice(0, LEVELS.indexOf(me.clearance) + 1)) cls.add(new Option(level, level));
  const reporter = can("dispatcher") || can("integrator");
  for (const id of ["need-submit"]) $(id).disabled = !reporter;
  if (!reporter) $("selection").textContent = "Your role may look but not report disruptions or needs.";
  render(await api("GET", "/snapshot"));
  connect();
}

// --- live stream (fetch, so the bearer token goes in a header, never in the URL) -----------

function setConnection(kind, text) {
  const pill = $("connection");
  pill.className = `pill pill-${kind}`;
  pill.textContent = text;
}

async function connect() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  while (state.stream === controller && state.token) {
    try {
      const response = await fetch("/stream", {headers: {Authorization: `Bearer ${state.token}`}, signal: controller.signal});
      if (response.status === 401) {
        const detail = (await response.json().catch(() => ({}))).detail || "session ended";
        logout(`Logged out: ${detail}`);
        return;
      }
      if (!response.ok) throw new Error(`stream answered ${response.status}`);
      setConnection("live", "connected");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (name === "snapshot" && data) render(JSON.parse(data));
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    if (state.stream !== controller) return;
    setConnection("wait", "reconnecting…");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// --- rendering ------------------------------------------------------------------------------

function render(snapshot) {
  state.snapshot = snapshot;
  $("exercise-banner").hidden = snapshot.mode !== "exercise";
  document.body.classList.toggle("exercise", snapshot.mode === "exercise");
  renderNodesSelect(snapshot);
  renderMap(snapshot);
  renderPlan(snapshot);
  renderSelection();
}

function renderNodesSelect(snapshot) {
  const select = $("need-node");
  const keep = select.value;
  const ids = snapshot.network.nodes.map((n) => n.node_id).join(",");
  if (select.dataset.ids === ids) return;
  select.dataset.ids = ids;
  select.innerHTML = "";
  for (const n of snapshot.network.nodes) select.add(new Option(`${n.name} (${n.node_id})`, n.node_id));
  if (keep) select.value = keep;
}

function projection(nodes) {
  const lats = nodes.map((n) => n.lat);
  const lons = nodes.map((n) => n.lon);
  const minLat = Math.min(...lats), maxLat = Math.max(...lats);
  const minLon = Math.min(...lons), maxLon = Math.max(...lons);
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180); // equirectangular, true at mid-latitude
  const w = Math.max((maxLon - minLon) * k, 1e-6), h = Math.max(maxLat - minLat, 1e-6);
  const pad = 70, width = 1000 - 2 * pad, height = 700 - 2 * pad;
  const scale = Math.min(width / w, height / h);
  const ox = pad + (width - w * scale) / 2, oy = pad + (height - h * scale) / 2;
  return (lat, lon) => [ox + (lon - minLon) * k * scale, oy + (maxLat - lat) * scale];
}

function select(kind, id) {
  state.selected = {kind, id};
  $("disruption-kind").value = kind === "link" ? "link_cut" : "node_lost";
  renderSelection();
  if (state.snapshot) renderMap(state.snapshot);
  const focusable = document.querySelector(`[data-${kind}-id="${CSS.escape(id)}"]`);
  if (focusable) focusable.focus();
}

function focusable(node, kind, id, label) {
  node.setAttribute("tabindex", "0");
  node.setAttribute("role", "button");
  node.setAttribute("aria-label", label);
  node.setAttribute(`data-${kind}-id`, id);
  node.addEventListener("click", () => select(kind, id));
  node.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(kind, id); }
  });
}

function renderMap(snapshot) {
  const svg = $("map");
  const active = document.activeElement;
  const refocus = active && active.dataset ? (active.dataset.linkId ? ["link", active.dataset.linkId] : active.dataset.nodeId ? ["node", active.dataset.nodeId] : null) : null;
  svg.innerHTML = "";
  const nodes = snapshot.network.nodes;
  if (!nodes.length) {
    svg.appendChild(el("text", {x: 500, y: 350, "text-anchor": "middle", "font-size": 22}, "No network registered yet."));
    return;
  }
  const project = projection(nodes);
  const at = Object.fromEntries(nodes.map((n) => [n.node_id, project(n.lat, n.lon)]));
  const linkById = Object.fromEntries(snapshot.network.links.map((l) => [l.link_id, l]));

  // Links between the same two nodes (road and rail) are drawn side by side, both clickable.
  const pairs = {};
  for (const l of snapshot.network.links) (pairs[[l.a, l.b].sort().join("|")] ||= []).push(l.link_id);
  const links = el("g", {"aria-label": "links"});
  for (const l of snapshot.network.links) {
    if (!at[l.a] || !at[l.b]) continue;
    const siblings = pairs[[l.a, l.b].sort().join("|")];
    const shift = (siblings.indexOf(l.link_id) - (siblings.length - 1) / 2) * 12;
    const [ax, ay] = at[l.a], [bx, by] = at[l.b];
    const len = Math.hypot(bx - ax, by - ay) || 1;
    const sign = l.a < l.b ? 1 : -1; // the same side whichever way round a link is registered
    const nx = (-(by - ay) / len) * shift * sign, ny = ((bx - ax) / len) * shift * sign;
    const x1 = ax + nx, y1 = ay + ny, x2 = bx + nx, y2 = by + ny;
    const selected = state.selected && state.selected.kind === "link" && state.selected.id === l.link_id;
    const g = el("g", {class: `link ${l.status} mode-${l.mode}${selected ? " selected" : ""}`});
    g.appendChild(el("line", {class: "link-halo", x1, y1, x2, y2}));
    g.appendChild(el("line", {class: "link-hit", x1, y1, x2, y2}));
    g.appendChild(el("line", {class: "link-line", x1, y1, x2, y2}));
    if (l.status === "closed") {
      const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
      g.appendChild(el("path", {d: `M${mx - 9},${my - 9}L${mx + 9},${my + 9}M${mx - 9},${my + 9}L${mx + 9},${my - 9}`, stroke: "#b3261e", "stroke-width": 5, "pointer-events": "none"}));
    }
    g.appendChild(el("title", {}, `${l.link_id} (${l.mode}, ${l.status})`));
    focusable(g, "link", l.link_id, `Link ${l.link_id}, ${l.mode}, ${l.length_km} km, ${l.status}`);
    links.appendChild(g);
  }
  svg.appendChild(links);

  const plan = snapshot.plan ? snapshot.plan.plan : null;
  const routes = el("g", {"aria-label": "planned routes"});
  if (plan) {
    plan.routes.forEach((route, i) => {
      // Each stop's via_links lead to it from the previous stop (the first stop's from where
      // the vehicle stands): walk them back from the stop to get the nodes in order.
      const trail = [];
      for (const stop of route.stops) {
        const leg = [stop.node_id];
        let cur = stop.node_id;
        for (const linkId of [...stop.via_links].reverse()) {
          const l = linkById[linkId];
          if (!l) break;
          cur = l.a === cur ? l.b : l.a;
          leg.unshift(cur);
        }
        for (const node of leg) if (trail[trail.length - 1] !== node) trail.push(node);
      }
      const points = trail.filter((n) => at[n]).map((n) => at[n]);
      const offset = (i % 5) * 3 - 6; // keep parallel routes apart
      const d = points.map(([x, y], j) => `${j ? "L" : "M"}${x + offset},${y + offset}`).join("");
      const path = el("path", {class: "route", d, stroke: ROUTE_COLOURS[i % ROUTE_COLOURS.length], "data-vehicle-id": route.vehicle_id});
      path.appendChild(el("title", {}, route.vehicle_id));
      routes.appendChild(path);
    });
  }
  svg.appendChild(routes);

  const depots = el("g", {"aria-label": "depots"});
  const depotsAt = {};
  for (const d of snapshot.depots) {
    if (!at[d.node_id]) continue;
    const n = (depotsAt[d.node_id] = (depotsAt[d.node_id] || 0) + 1);
    const [x, y] = at[d.node_id];
    const g = el("g", {class: `depot ${d.status}`, "data-depot-id": d.depot_id});
    g.appendChild(el("rect", {x: x + 10 + (n - 1) * 16, y: y - 22, width: 14, height: 14}));
    const stock = Object.entries(d.stock_kg).map(([c, kg]) => `${c} ${tonnes(kg)}`).join(", ");
    g.appendChild(el("title", {}, `${d.name} (${d.depot_id}, ${d.owner}, ${d.status}): ${stock || "no stock"}`));
    depots.appendChild(g);
  }
  svg.appendChild(depots);

  const outcome = {};
  if (plan) for (const n of plan.needs) outcome[n.need_id] = n;
  const needs = el("g", {"aria-label": "needs"});
  const needsAt = {};
  for (const need of snapshot.needs) {
    if (!at[need.node_id]) continue;
    const n = (needsAt[need.node_id] = (needsAt[need.node_id] || 0) + 1);
    const [x, y] = at[need.node_id];
    const status = outcome[need.need_id] ? outcome[need.need_id].status : (need.committed_kg >= need.quantity_kg ? "served" : "open");
    const cx = x + 14 + (n - 1) * 16, cy = y + 16;
    const mark = el("path", {class: `need-mark ${status}`, d: `M${cx},${cy - 9}L${cx + 8},${cy + 6}L${cx - 8},${cy + 6}Z`, "data-need-id": need.need_id});
    mark.appendChild(el("title", {}, `${need.need_id}: ${need.commodity} ${tonnes(need.quantity_kg)}, ${need.priority}, ${status}`));
    needs.appendChild(mark);
  }
  svg.appendChild(needs);

  const nodesG = el("g", {"aria-label": "nodes"});
  for (const n of nodes) {
    const [x, y] = at[n.node_id];
    const selected = state.selected && state.selected.kind === "node" && state.selected.id === n.node_id;
    const g = el("g", {class: `node ${n.status}${selected ? " selected" : ""}`});
    g.appendChild(el("circle", {cx: x, cy: y, r: 9}));
    const left = x < 260; // labels of western nodes go to the right, so none is cut off
    g.appendChild(el("text", {x: left ? x + 14 : x - 12, y: y - 14, "text-anchor": left ? "start" : "end"}, n.name));
    focusable(g, "node", n.node_id, `Node ${n.name} (${n.node_id}), ${n.status}`);
    nodesG.appendChild(g);
  }
  svg.appendChild(nodesG);

  if (refocus) {
    const again = svg.querySelector(`[data-${refocus[0]}-id="${CSS.escape(refocus[1])}"]`);
    if (again) again.focus();
  }
}

function renderPlan(snapshot) {
  const view = snapshot.plan;
  const decider = can("dispatcher");
  $("approve").disabled = !view || !decider;
  $("override").disabled = !view || !decider;
  $("decide-hint").textContent = decider ? "" : `Your role (${state.me ? state.me.roles.join(", ") : "?"}) cannot approve or override plans.`;
  if (!view) return;
  const plan = view.plan;
  $("plan-version").textContent = `v${plan.version}`;
  $("plan-version").dataset.planId = plan.plan_id;
  $("approve").textContent = `Approve plan v${plan.version}`;
  const k = plan.kpis;
  $("plan-meta").textContent = `${plan.plan_id} · made ${hhmm(view.created_at)} · fill ${(k.fill_rate * 100).toFixed(0)}% · ${k.vehicles_used} vehicles · ${Math.round(k.distance_km)} km`;
  const decision = $("decision");
  if (view.decision && view.decision.decision === "approved") $("approve").disabled = true;
  if (view.decision) {
    const d = view.decision;
    decision.textContent = `${d.decision === "approved" ? "✔ Approved" : "✎ Overridden"} by ${d.username} at ${hhmm(d.at)}${d.note ? ` — ${d.note}` : ""}`;
    decision.className = `decision ${d.decision}`;
  } else {
    decision.textContent = "Awaiting decision";
    decision.className = "decision";
  }
  $("plan-reason").textContent = view.reason ? `Why re-planned: ${view.reason}` : "";
  const changes = $("changes");
  changes.innerHTML = "";
  if (!view.changes) {
    changes.appendChild(li("First plan."));
  } else {
    const c = view.changes;
    for (const v of c.vehicles_rerouted) changes.appendChild(li(`<b>${esc(v)}</b> re-routed`));
    for (const v of c.vehicles_added) changes.appendChild(li(`<b>${esc(v)}</b> added`));
    for (const v of c.vehicles_removed) changes.appendChild(li(`<b>${esc(v)}</b> no longer used`));
    for (const n of c.needs) {
      if (n.after === "absent") {
        changes.appendChild(li(`<b>${esc(n.need_id)}</b> off the plan: already dispatched (${tonnes(n.before_served_kg)}) or withdrawn`));
        continue;
      }
      if (n.before === "absent") {
        changes.appendChild(li(`<b>${esc(n.need_id)}</b> new: <span class="tag tag-${esc(n.after)}">${esc(n.after)}</span> ${tonnes(n.after_served_kg)}${n.reason ? ` — ${esc(n.reason.replaceAll("_", " "))}` : ""}`));
        continue;
      }
      const why = n.reason && n.reason !== n.before_reason ? ` — now ${esc(n.reason.replaceAll("_", " "))}` : "";
      changes.appendChild(li(`<b>${esc(n.need_id)}</b> ${esc(n.before)} (${tonnes(n.before_served_kg)}) → <span class="tag tag-${esc(n.after)}">${esc(n.after)}</span> ${tonnes(n.after_served_kg)}${why}`));
    }
    if (!changes.children.length) changes.appendChild(li(`No change from v${c.previous_version}.`));
  }
  const unserved = $("unserved");
  unserved.innerHTML = "";
  for (const n of plan.needs.filter((x) => x.status !== "served")) {
    unserved.appendChild(li(`<span class="tag tag-${esc(n.status)}">${esc(n.status)}</span><b>${esc(n.need_id)}</b> ${tonnes(n.served_kg)} of ${tonnes(n.requested_kg)} — ${esc((n.reason || "").replaceAll("_", " "))}${n.detail ? `: ${esc(n.detail)}` : ""}`));
  }
  if (!unserved.children.length) unserved.appendChild(li("Every need in this plan is served."));
  const routes = $("routes");
  routes.innerHTML = "";
  if (!plan.routes.length) routes.appendChild(li("No vehicle moves in this plan."));
  plan.routes.forEach((r, i) => {
    const byNeed = {};
    for (const s of r.stops.filter((x) => x.action === "unload")) {
      const d = (byNeed[s.need_id] ||= {kg: 0, trips: 0, eta: s.eta});
      d.kg += s.quantity_kg; d.trips += 1; d.eta = s.eta;
    }
    const deliveries = Object.entries(byNeed).map(([need, d]) => `${esc(need)} ${tonnes(d.kg)}${d.trips > 1 ? ` in ${d.trips} trips` : ""} by ${hhmm(d.eta)}`).join("; ");
    const item = li(`<b style="color:${ROUTE_COLOURS[i % ROUTE_COLOURS.length]}">■ ${esc(r.vehicle_id)}</b> ${Math.round(r.distance_km)} km: ${deliveries}`);
    item.dataset.vehicleId = r.vehicle_id;
    routes.appendChild(item);
  });
}

function renderSelection() {
  const s = state.selected;
  const reporter = can("dispatcher") || can("integrator");
  $("report-disruption").disabled = !s || !reporter;
  if (!s || !state.snapshot) return;
  const net = state.snapshot.network;
  const thing = s.kind === "link" ? net.links.find((l) => l.link_id === s.id) : net.nodes.find((n) => n.node_id === s.id);
  $("selection").textContent = thing
    ? (s.kind === "link" ? `Selected link ${thing.link_id} (${thing.mode}, ${thing.status})` : `Selected node ${thing.name} (${thing.node_id}, ${thing.status})`)
    : `Selected ${s.kind} ${s.id}`;
}

// --- actions --------------------------------------------------------------------------------

async function reportDisruption(event) {
  event.preventDefault();
  const s = state.selected;
  if (!s) return;
  const id = `DIS-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}`;
  const body = {
    disruption_id: id,
    kind: $("disruption-kind").value,
    severity: Number($("disruption-severity").value),
    observed_at: new Date().toISOString(),
    links: s.kind === "link" ? [s.id] : [],
    nodes: s.kind === "node" ? [s.id] : [],
    description: $("disruption-description").value,
  };
  try {
    const accepted = await api("POST", "/disruptions", body);
    state.selected = null; // the map now shows the reported state, not the selection
    $("disruption-description").value = "";
    if (state.snapshot) renderMap(state.snapshot);
    $("selection").textContent = "Click or tab to a link or a node on the map.";
    toast(`Disruption ${id} reported (event ${accepted.event_id.slice(0, 8)}); re-planning…`);
  } catch (err) {
    toast(`Not reported: ${err.message}`, true);
  }
}

async function raiseNeed(event) {
  event.preventDefault();
  const id = `NEED-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}`;
  const body = {
    need_id: id,
    node_id: $("need-node").value,
    commodity: $("need-commodity").value,
    quantity: Number($("need-quantity").value),
    unit: "t",
    priority: $("need-priority").value,
    deadline: new Date(Date.now() + Number($("need-within").value) * 3600e3).toISOString(),
  };
  try {
    const cls = encodeURIComponent($("need-classification").value);
    const accepted = await api("POST", `/needs?classification=${cls}`, body);
    toast(`Need ${id} raised (event ${accepted.event_id.slice(0, 8)})`);
  } catch (err) {
    toast(`Need not raised: ${err.message}`, true);
  }
}

async function decide(decision, note = "") {
  const view = state.snapshot && state.snapshot.plan;
  if (!view) return;
  try {
    const d = await api("POST", `/plans/${encodeURIComponent(view.plan.plan_id)}/decision`, {decision, note});
    toast(`Plan v${d.version} ${d.decision}`);
    $("override-box").hidden = true;
    render(await api("GET", "/snapshot"));
  } catch (err) {
    toast(`Not recorded: ${err.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
  $("disrupt-form").addEventListener("submit", reportDisruption);
  $("need-form").addEventListener("submit", raiseNeed);
  $("approve").addEventListener("click", () => decide("approve"));
  $("override").addEventListener("click", () => { $("override-box").hidden = false; $("override-note").focus(); });
  $("override-submit").addEventListener("click", () => decide("override", $("override-note").value));
  if (state.token) start(); else logout();
});

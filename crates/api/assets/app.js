// Hanse dashboard. Talks to /api/v1 on the same origin; the token the user
// enters stays in sessionStorage and goes out as "Authorization: Bearer".
// Every value from the API is written with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "hanse-token";
const POLL_MS = 5000;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function showStatus(text) {
  document.getElementById("status").textContent = text;
}

async function api(method, path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : response.statusText;
    throw new Error(response.status + ": " + detail);
  }
  return data;
}

// Runs an action and shows its failure in the status line.
async function attempt(action) {
  try {
    showStatus("");
    await action();
  } catch (error) {
    showStatus(error.message);
  }
}

function element(tag, text, attributes) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  return node;
}

function fillRows(table, rows) {
  const body = document.querySelector(table + " tbody");
  body.replaceChildren(...rows);
}

function row(cells, attributes) {
  const tr = element("tr", null, attributes);
  for (const cell of cells) {
    const td = element("td");
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell === null || cell === undefined ? "" : String(cell);
    tr.append(td);
  }
  return tr;
}

function percent(part, whole) {
  return whole > 0 ? ((100 * part) / whole).toFixed(1) + " %" : "–";
}

function fillList(id, counts) {
  const items = counts.map((entry) => element("li", entry.key + " (" + entry.count + ")"));
  document.getElementById(id).replaceChildren(...items);
}

// ---- overview

async function loadOverview() {
  const stats = await api("GET", "/api/v1/stats");
  document.getElementById("qps").textContent =
    stats.queries_per_second === null ? "–" : stats.queries_per_second.toFixed(1);
  document.getElementById("queries-total").textContent = stats.queries_total;
  document.getElementById("blocked-share").textContent = percent(stats.blocked_total, stats.queries_total);
  document.getElementById("cache-hit-rate").textContent =
    percent(stats.cache_hits, stats.cache_hits + stats.cache_misses);
  fillList("top-names", stats.top_names);
  fillList("top-blocked", stats.top_blocked);
  fillList("top-clients", stats.top_clients);
}

// ---- query log

async function explainEntry(entry) {
  const query = new URLSearchParams({ name: entry.name, type: entry.record_type });
  if (entry.client) query.set("client", entry.client);
  const explanation = await api("GET", "/api/v1/explain?" + query);
  const lines = [
    entry.name + " " + entry.record_type + ": " + explanation.verdict + " (profile " + explanation.profile + ")",
  ];
  if (explanation.feed) lines.push("feed " + explanation.feed + (explanation.rule ? ", rule " + explanation.rule : ""));
  lines.push(...explanation.steps);
  const output = document.getElementById("explanation");
  output.textContent = lines.join("\n");
  output.hidden = false;
}

async function loadQueryLog() {
  const value = (id) => document.getElementById(id).value.trim();
  const query = new URLSearchParams({ limit: "100" });
  if (value("querylog-name")) query.set("name", value("querylog-name"));
  if (value("querylog-client")) query.set("client", value("querylog-client"));
  if (document.getElementById("querylog-blocked").checked) query.set("blocked_only", "true");
  let entries;
  try {
    entries = await api("GET", "/api/v1/querylog?" + query);
  } catch (error) {
    fillRows("#querylog-table", [row(["", "", error.message, "", "", "", ""])]);
    return;
  }
  fillRows(
    "#querylog-table",
    entries.map((entry) => {
      const why = element("button", "why?", { class: "secondary", "data-testid": "why" });
      why.addEventListener("click", () => attempt(() => explainEntry(entry)));
      const time = new Date(entry.time * 1000).toLocaleTimeString();
      const count = entry.count > 1 ? `×${entry.count}` : "";
      return row([time, entry.client, entry.name, entry.record_type, entry.rcode, count, why], {
        class: entry.blocked ? "blocked" : "",
        "data-id": String(entry.id),
      });
    }),
  );
}

// ---- feeds

async function loadFeeds() {
  const feeds = await api("GET", "/api/v1/feeds");
  fillRows(
    "#feeds-table",
    feeds.map((feed) => {
      const refresh = element("button", "refresh", { class: "secondary", "data-feed": feed.name });
      refresh.addEventListener("click", () =>
        attempt(async () => {
          await api("POST", "/api/v1/feeds/" + encodeURIComponent(feed.name) + "/refresh");
          showStatus("refresh of " + feed.name + " started");
        }),
      );
      const status = feed.stale ? "stale: " + (feed.last_error || "") : "current";
      const version = feed.serial !== null ? feed.serial : feed.version;
      return row([feed.name, feed.format, version, feed.rules, status, refresh], { "data-feed": feed.name });
    }),
  );
}

// ---- profiles and client mappings

function deleteButton(path, reload) {
  const button = element("button", "delete", { class: "secondary" });
  button.addEventListener("click", () =>
    attempt(async () => {
      await api("DELETE", path);
      await reload();
    }),
  );
  return button;
}

async function loadProfiles() {
  const profiles = await api("GET", "/api/v1/profiles");
  document.getElementById("profile-list").replaceChildren(
    ...profiles.map((profile) => {
      const item = element("li", profile.name + (profile.feeds.length ? ": " + profile.feeds.join(", ") : ""), {
        "data-profile": profile.name,
      });
      item.append(" ", deleteButton("/api/v1/profiles/" + encodeURIComponent(profile.name), loadProfiles));
      return item;
    }),
  );
}

async function loadClients() {
  const clients = await api("GET", "/api/v1/clients");
  document.getElementById("client-list").replaceChildren(
    ...clients.map((mapping) => {
      const item = element("li", mapping.cidr + " → " + mapping.profile, { "data-cidr": mapping.cidr });
      item.append(" ", deleteButton("/api/v1/clients/" + encodeURIComponent(mapping.cidr), loadClients));
      return item;
    }),
  );
}

// ---- settings

async function loadSettings() {
  const settings = await api("GET", "/api/v1/settings");
  fillRows("#settings-table", settings.map((setting) => row([setting.section, setting.key, setting.value])));
}

// ---- wiring

function loadAll() {
  return attempt(async () => {
    await Promise.all([loadOverview(), loadFeeds(), loadProfiles(), loadClients(), loadSettings()]);
    await loadQueryLog();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token").value = token();
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    loadAll();
  });
  document.getElementById("querylog-form").addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(loadQueryLog);
  });
  document.getElementById("profile-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const name = document.getElementById("profile-name").value.trim();
    const feeds = document
      .getElementById("profile-feeds")
      .value.split(",")
      .map((feed) => feed.trim())
      .filter((feed) => feed);
    attempt(async () => {
      await api("POST", "/api/v1/profiles", { name, feeds });
      form.reset();
      await loadProfiles();
    });
  });
  document.getElementById("client-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const cidr = document.getElementById("client-cidr").value.trim();
    const profile = document.getElementById("client-profile").value.trim();
    attempt(async () => {
      await api("POST", "/api/v1/clients", { cidr, profile });
      form.reset();
      await loadClients();
    });
  });
  loadAll();
  setInterval(() => attempt(loadOverview), POLL_MS);
});

"""The alert desk's page: one self-contained HTML document (no CDN, no map tiles, no internet).

The map is an SVG drawn from the alerts themselves: the frame fits the places alerts were raised
in (the force's area as its drones see it), with a graticule to read positions from. Alerts come
as server-sent events from the desk process; EventSource reconnects by itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re

__all__ = ["content_security_policy", "desk_page", "login_page"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>peacewatch alert desk - __FORCE__</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #10151c; color: #e6e9ee; }
  header { padding: 10px 16px; background: #1b2430; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  #status { font-size: 13px; color: #9aa5b1; }
  #status.live { color: #5fd38d; }
  main { display: grid; grid-template-columns: minmax(420px, 1fr) minmax(380px, 1.2fr);
         gap: 12px; padding: 12px; }
  #map { width: 100%; aspect-ratio: 1 / 1; background: #16202b; border-radius: 6px; }
  #map .grid { stroke: #2b3a4a; stroke-width: 1; }
  #map .label { fill: #6b7b8c; font-size: 11px; }
  #map .marker { fill: #ff5a4f; fill-opacity: 0.75; stroke: #ffd2cf; stroke-width: 1; }
  #map .marker.new { fill: #ffd23f; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #243140; }
  th { color: #9aa5b1; font-weight: 600; position: sticky; top: 0; background: #10151c; }
  td.score { color: #ff7b72; font-weight: 600; }
  #feed-box { max-height: calc(100vh - 90px); overflow-y: auto; }
  tr.new { background: #3a2a12; transition: background 2s; }
</style>
</head>
<body>
<header>
  <h1>Alert desk &middot; <span id="force">__FORCE__</span></h1>
  <span id="status">connecting ...</span>
  <span id="count">0 alerts</span>
</header>
<main>
  <svg id="map" viewBox="0 0 1000 1000" role="img" aria-label="where alerts were raised"></svg>
  <div id="feed-box">
    <table>
      <thead><tr>
        <th>time (UTC)</th><th>citizen</th><th>peacescore</th><th>drone</th><th>location</th>
      </tr></thead>
      <tbody id="feed"></tbody>
    </table>
  </div>
</main>
<script>
"use strict";
const KEEP = 500;
const SVG = "http://www.w3.org/2000/svg";
const map = document.getElementById("map");
const feed = document.getElementById("feed");
const alerts = [];
let box = null;

function fit(a) {
  if (box === null) { box = {latMin: a.lat, latMax: a.lat, lonMin: a.lon, lonMax: a.lon}; return true; }
  let grew = false;
  if (a.lat < box.latMin) { box.latMin = a.lat; grew = true; }
  if (a.lat > box.latMax) { box.latMax = a.lat; grew = true; }
  if (a.lon < box.lonMin) { box.lonMin = a.lon; grew = true; }
  if (a.lon > box.lonMax) { box.lonMax = a.lon; grew = true; }
  return grew;
}

function frame() {
  // Square degrees scaled by latitude, padded, at least ~1 km across.
  const midLat = (box.latMin + box.latMax) / 2;
  const k = Math.cos(midLat * Math.PI / 180);
  const span = Math.max(box.latMax - box.latMin, (box.lonMax - box.lonMin) * k, 0.01) * 1.15;
  return {lat: midLat, lon: (box.lonMin + box.lonMax) / 2, span: span, k: k};
}

function project(f, lat, lon) {
  return [500 + (lon - f.lon) * f.k / f.span * 1000, 500 - (lat - f.lat) / f.span * 1000];
}

function drawGrid(f) {
  for (const el of map.querySelectorAll(".grid, .label")) el.remove();
  const step = Math.pow(10, Math.floor(Math.log10(f.span))) / 2;
  for (let lat = Math.ceil((f.lat - f.span) / step) * step; lat < f.lat + f.span; lat += step) {
    const y = project(f, lat, f.lon)[1];
    if (y < 0 || y > 1000) continue;
    map.prepend(line(0, y, 1000, y), label(4, y - 3, lat.toFixed(3)));
  }
  for (let lon = Math.ceil((f.lon - f.span / f.k) / step) * step; lon < f.lon + f.span / f.k; lon += step) {
    const x = project(f, f.lat, lon)[0];
    if (x < 0 || x > 1000) continue;
    map.prepend(line(x, 0, x, 1000), label(x + 3, 994, lon.toFixed(3)));
  }
}

function line(x1, y1, x2, y2) {
  const el = document.createElementNS(SVG, "line");
  el.setAttribute("class", "grid");
  el.setAttribute("x1", x1); el.setAttribute("y1", y1); el.setAttribute("x2", x2); el.setAttribute("y2", y2);
  return el;
}

function label(x, y, text) {
  const el = document.createElementNS(SVG, "text");
  el.setAttribute("class", "label"); el.setAttribute("x", x); el.setAttribute("y", y);
  el.textContent = text;
  return el;
}

function place(f, a) {
  const [x, y] = project(f, a.lat, a.lon);
  a.marker.setAttribute("cx", x.toFixed(1));
  a.marker.setAttribute("cy", y.toFixed(1));
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function show(a) {
  const marker = document.createElementNS(SVG, "circle");
  marker.setAttribute("class", "marker new");
  marker.setAttribute("r", "7");
  marker.dataset.alertId = a.alert_id;
  const title = document.createElementNS(SVG, "title");
  title.textContent = a.name + " (" + a.peacescore + ") - " + a.drone;
  marker.append(title);
  map.append(marker);
  a.marker = marker;
  alerts.push(a);
  const grew = fit(a);
  const f = frame();
  if (grew || alerts.length === 1) {  // the frame moved: redraw the grid and every marker
    drawGrid(f);
    for (const b of alerts) place(f, b);
  } else {
    place(f, a);
  }
  setTimeout(() => marker.classList.remove("new"), 3000);

  const row = document.createElement("tr");
  row.className = "new";
  row.dataset.alertId = a.alert_id;
  row.append(cell(a.ts.replace("T", " ").replace("+00:00", "")), cell(a.name),
             cell(String(a.peacescore), "score"), cell(a.drone),
             cell(a.lat.toFixed(5) + ", " + a.lon.toFixed(5)));
  feed.prepend(row);
  setTimeout(() => row.classList.remove("new"), 100);
  while (alerts.length > KEEP) { const old = alerts.shift(); old.marker.remove(); }
  while (feed.children.length > KEEP) feed.lastElementChild.remove();
  document.getElementById("count").textContent = alerts.length + " alerts";
}

const seen = new Set();
const status = document.getElementById("status");
const source = new EventSource("events");
source.onopen = () => { status.textContent = "live"; status.className = "live"; };
source.onerror = () => { status.textContent = "reconnecting ..."; status.className = ""; };
source.onmessage = (event) => {
  const a = JSON.parse(event.data);
  if (seen.has(a.alert_id)) return;  // a reconnect replays the recent alerts
  seen.add(a.alert_id);
  show(a);
};
</script>
</body>
</html>
"""


def desk_page(tenant: str) -> bytes:
    return _PAGE.replace("__FORCE__", html.escape(tenant)).encode()


_LOGIN = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>peacewatch alert desk - __FORCE__ - sign in</title>
<style>
  body { font-family: system-ui, sans-serif; background: #10151c; color: #e6e9ee; padding: 40px; }
  input { width: 40em; max-width: 90vw; } p.why { color: #ff7b72; }
</style>
</head>
<body>
<h1>Alert desk &middot; __FORCE__</h1>
<p class="why">__WHY__</p>
<form method="post" action="login">
  <label>Officer token (from <code>peacewatch tenants token __FORCE__ --role officer</code>)<br>
  <input type="password" name="token" autocomplete="off" required></label>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
"""


def login_page(tenant: str, *, why: str = "") -> bytes:
    return _LOGIN.replace("__FORCE__", html.escape(tenant)).replace("__WHY__", html.escape(why)).encode()


def _inline_hashes(page: bytes, tag: str) -> list[str]:
    found = re.findall(rb"<" + tag.encode() + rb">(.*?)</" + tag.encode() + rb">", page, re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'" for b in found]


def content_security_policy(page: bytes) -> str:
    """Nothing but the page's own inline script and style (by hash) and its own event stream."""
    scripts = " ".join(_inline_hashes(page, "script")) or "'none'"
    styles = " ".join(_inline_hashes(page, "style")) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )

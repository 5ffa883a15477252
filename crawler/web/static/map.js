/* The directory map. Reads its data from the JSON block in the page (never from HTML), and
   builds every popup with text nodes, so no profile text is ever parsed as HTML.
   Without JavaScript or tiles, the page's list of groups is still there; the area boundaries come
   from this server (/api/areas.geojson), so they are drawn even when no tile loads. */
(function () {
  "use strict";
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function start() {
    var holder = document.getElementById("map");
    var block = document.getElementById("map-data");
    if (!holder || !block || typeof L === "undefined") { return; }
    var data = JSON.parse(block.textContent);
    holder.className += " map-on";  // shown only once there is a map to show
    var map = L.map(holder, {scrollWheelZoom: false});
    // Leaflet renders attributions as HTML: pass only escaped text and an http(s) link.
    var attribution = escapeHtml(data.attribution || "");
    if (attribution && /^https?:\/\//.test(data.attribution_url || "")) {
      attribution = '<a href="' + escapeHtml(data.attribution_url) + '">' + attribution + "</a>";
    }
    var tiles = L.tileLayer(data.tiles, {maxZoom: 19, attribution: attribution}).addTo(map);
    // Offline, or a tile server that refuses us: say so, and keep drawing areas and groups.
    tiles.on("tileerror", function () {
      var note = document.getElementById("tiles-note");
      if (note) { note.hidden = false; }
    });
    var points = [];
    data.groups.forEach(function (g) {
      if (typeof g.lat !== "number" || typeof g.lon !== "number") { return; }
      points.push({lat: g.lat, lon: g.lon, name: g.name || g.key, href: g.href});
    });
    var markers = L.layerGroup().addTo(map);
    map.on("zoomend", function () { cluster(map, markers, points); });
    if (points.length) {
      map.fitBounds(points.map(function (p) { return [p.lat, p.lon]; }), {padding: [24, 24], maxZoom: 15});
    } else {
      map.setView([51.5, -0.1], 10);
    }
    cluster(map, markers, points);
    if (data.areas_url) { drawAreas(map, data.areas_url, points.length === 0); }
  }
  // Dense markers are grouped: the groups whose markers would fall in the same CELL-pixel square at
  // this zoom become one numbered marker, which zooms in on them when clicked (or Enter on it). A
  // small grid of our own, redone at each zoom: a few hundred groups need no clustering plugin.
  var CELL = 48;
  function cluster(map, layer, points) {
    layer.clearLayers();
    var zoom = map.getZoom(), cells = {};
    points.forEach(function (p) {
      var px = map.project([p.lat, p.lon], zoom);
      var key = Math.floor(px.x / CELL) + ":" + Math.floor(px.y / CELL);
      (cells[key] = cells[key] || []).push(p);
    });
    Object.keys(cells).forEach(function (key) {
      var here = cells[key];
      if (here.length === 1 || zoom >= map.getMaxZoom()) {
        here.forEach(function (p) { layer.addLayer(single(p)); });
      } else {
        layer.addLayer(bunch(map, here));
      }
    });
  }
  function single(p) {
    var popup = document.createElement("a");
    popup.href = p.href;
    popup.textContent = p.name;
    return L.marker([p.lat, p.lon], {title: p.name, alt: p.name}).bindPopup(popup);
  }
  function bunch(map, here) {
    var lat = 0, lon = 0;
    here.forEach(function (p) { lat += p.lat; lon += p.lon; });
    var label = here.length + " groups here: zoom in";
    var size = here.length < 10 ? 30 : here.length < 100 ? 36 : 44;
    var marker = L.marker([lat / here.length, lon / here.length], {
      title: label, alt: label, keyboard: true,
      icon: L.divIcon({className: "map-cluster", html: String(here.length), iconSize: [size, size]})
    });
    function open() {
      map.fitBounds(here.map(function (p) { return [p.lat, p.lon]; }), {padding: [32, 32]});
    }
    marker.on("click", open);
    marker.on("keypress", function (e) {
      var key = e.originalEvent.key;
      if (key === "Enter" || key === " ") { open(); }
    });
    marker.on("add", function () {
      var icon = marker.getElement();
      if (icon) {
        icon.style.lineHeight = (size - 4) + "px";   // the count centred (inside the 2px border)
        icon.setAttribute("aria-label", label);
        icon.setAttribute("data-count", String(here.length));
      }
    });
    return marker;
  }
  // Shades of one hue: the more groups an area has, the darker (0 groups: almost clear).
  function shade(n, most) {
    var t = most ? n / most : 0;
    return {color: "#334155", weight: 1, fillColor: "#0f766e", fillOpacity: 0.08 + 0.5 * t};
  }
  function drawAreas(map, url, fit) {
    fetch(url, {headers: {"Accept": "application/geo+json"}}).then(function (resp) {
      return resp.ok ? resp.json() : null;
    }).then(function (doc) {
      if (!doc || !doc.features || !doc.features.length) { return; }
      var most = 0;
      doc.features.forEach(function (f) { most = Math.max(most, f.properties.groups || 0); });
      var layer = L.geoJSON(doc, {
        style: function (f) { return shade(f.properties.groups || 0, most); },
        onEachFeature: function (f, shape) {
          var link = document.createElement("a");   // text only: names come from the operator's file
          link.href = f.properties.page;
          link.textContent = f.properties.name + ": " + f.properties.groups +
            (f.properties.groups === 1 ? " group" : " groups");
          shape.bindPopup(link);
          shape.bindTooltip(f.properties.name, {sticky: true});
        }
      }).addTo(map);
      layer.bringToBack();
      if (fit) { map.fitBounds(layer.getBounds(), {padding: [12, 12]}); }
      var legend = document.getElementById("map-legend");
      if (legend) {
        legend.textContent = "Areas shaded by their number of groups (darkest: " + most + ").";
        legend.hidden = false;
      }
    }).catch(function () { /* the groups are still on the map and in the list below */ });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

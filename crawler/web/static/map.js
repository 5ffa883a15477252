/* The directory map. Reads its data from the JSON block in the page (never from HTML), and
   builds every popup with text nodes, so no profile text is ever parsed as HTML.
   Without JavaScript or tiles, the page's list of groups is still there. */
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
    L.tileLayer(data.tiles, {maxZoom: 19, attribution: attribution}).addTo(map);
    var points = [];
    data.groups.forEach(function (g) {
      if (typeof g.lat !== "number" || typeof g.lon !== "number") { return; }
      var popup = document.createElement("a");
      popup.href = g.href;
      popup.textContent = g.name || g.key;
      var marker = L.marker([g.lat, g.lon], {title: g.name || g.key, alt: g.name || g.key});
      marker.bindPopup(popup);
      marker.addTo(map);
      points.push([g.lat, g.lon]);
    });
    if (points.length) {
      map.fitBounds(points, {padding: [24, 24], maxZoom: 15});
    } else {
      map.setView([51.5, -0.1], 10);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/* The /sparql query page: run the query with fetch() and draw the answer.
 *
 * Everything from the server or the data is written with textContent or as an
 * attribute value, never through innerHTML: profile data is written by strangers.
 * Links are made only for http(s) IRIs, so a javascript: value stays text.
 */
(function () {
  "use strict";

  var form = document.getElementById("query-form");
  var textarea = document.getElementById("query");
  var statusLine = document.getElementById("status");
  var results = document.getElementById("results");
  var picker = document.getElementById("example");
  var description = document.getElementById("example-description");
  var csvLink = document.getElementById("download-csv");
  var examples = [];
  try {
    examples = JSON.parse(document.getElementById("examples-data").textContent) || [];
  } catch (e) {
    examples = [];
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function isWebIri(value) {
    return /^https?:\/\//i.test(value);
  }

  function termCell(term) {
    var td = el("td");
    if (!term) return td;
    if (term.type === "uri") {
      if (isWebIri(term.value)) {
        var a = el("a", term.value);
        a.href = term.value;            // an attribute, set from a checked http(s) string
        a.rel = "noopener noreferrer nofollow";
        td.appendChild(a);
      } else {
        td.appendChild(el("span", term.value, "iri"));
      }
    } else if (term.type === "bnode") {
      td.appendChild(el("span", "_:" + term.value, "bnode"));
    } else if (term.type === "triple") {
      var t = term.value;
      td.appendChild(el("span", "<< " + [t.subject, t.predicate, t.object].map(function (x) {
        return x ? x.value : "";
      }).join(" ") + " >>", "triple"));
    } else {
      td.appendChild(el("span", term.value, "literal"));
      if (term["xml:lang"]) td.appendChild(el("span", "@" + term["xml:lang"], "lang"));
      else if (term.datatype) {
        var short = term.datatype.replace("http://www.w3.org/2001/XMLSchema#", "xsd:");
        td.appendChild(el("span", "^^" + short, "datatype"));
      }
    }
    return td;
  }

  function showTable(doc, truncated, millis) {
    if (typeof doc.boolean === "boolean") {
      results.appendChild(el("p", doc.boolean ? "Yes (true)" : "No (false)", "boolean"));
      statusLine.textContent = "ASK answered in " + millis + " ms.";
      return;
    }
    var vars = (doc.head && doc.head.vars) || [];
    var rows = (doc.results && doc.results.bindings) || [];
    var table = el("table");
    var thead = el("thead");
    var headRow = el("tr");
    vars.forEach(function (v) { headRow.appendChild(el("th", "?" + v)); });
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      vars.forEach(function (v) { tr.appendChild(termCell(row[v])); });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    results.appendChild(table);
    var text = rows.length + (rows.length === 1 ? " row" : " rows") + " in " + millis + " ms.";
    if (truncated) text += " The answer was cut at the row cap: add a LIMIT or narrow the query.";
    statusLine.textContent = text;
  }

  function showText(body, truncated, millis) {
    results.appendChild(el("pre", body, "graph"));
    statusLine.textContent = "Graph answer (Turtle) in " + millis + " ms." +
      (truncated ? " The answer was cut at the row cap." : "");
  }

  function showError(status, body) {
    var message = "The server answered " + status + ".";
    try {
      var doc = JSON.parse(body);
      if (doc && doc.error) message = doc.error.message + " (" + doc.error.code + ", " + doc.error.status + ")";
    } catch (e) { /* not JSON: keep the status line */ }
    results.appendChild(el("p", message, "error"));
    statusLine.textContent = "The query was not answered.";
  }

  function csvHref(query) {
    var params = new URLSearchParams();
    params.set("query", query);
    return form.getAttribute("action") + "?" + params.toString();
  }

  function run(event) {
    if (event) event.preventDefault();
    var query = textarea.value;
    clear(results);
    statusLine.textContent = "Running…";
    csvLink.hidden = true;
    var started = Date.now();
    var body = new URLSearchParams();
    body.set("query", query);
    fetch(form.getAttribute("action"), {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/sparql-results+json, text/turtle;q=0.9"
      },
      body: body.toString()
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var millis = Date.now() - started;
        var truncated = resp.headers.get("X-Hubnet-Truncated") === "true";
        var type = resp.headers.get("Content-Type") || "";
        if (!resp.ok) return showError(resp.status, text);
        if (type.indexOf("json") !== -1) {
          var doc = JSON.parse(text);
          showTable(doc, truncated, millis);
          if (!(typeof doc.boolean === "boolean")) {
            csvLink.href = csvHref(query);
            csvLink.hidden = false;
          }
        } else {
          showText(text, truncated, millis);
        }
      });
    }).catch(function (err) {
      statusLine.textContent = "The request failed: " + err.message;
    });
  }

  form.addEventListener("submit", run);
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run(event);
  });

  // The CSV link: a plain GET that asks for text/csv through a fetch, saved as a file.
  csvLink.addEventListener("click", function (event) {
    event.preventDefault();
    fetch(csvLink.href, { headers: { "Accept": "text/csv" } }).then(function (resp) {
      return resp.blob();
    }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "results.csv";
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    });
  });

  if (picker) {
    picker.addEventListener("change", function () {
      var chosen = examples.filter(function (ex) { return ex.name === picker.value; })[0];
      if (!chosen) { description.textContent = ""; return; }
      textarea.value = chosen.query;
      description.textContent = chosen.description || "";
    });
  }
})();

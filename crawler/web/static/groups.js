/* Search-as-you-type for the inputs that take a group's name (Introductions, Network): asks the
   directory's JSON twin (/api/groups?q=) and offers the names it finds in the input's datalist.
   Names are set as option values (attributes), never parsed as HTML. */
(function () {
  "use strict";
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null, asked = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q.length < 2 || q === asked) { return; }
        asked = q;
        fetch("/api/groups?" + new URLSearchParams({q: q, limit: "10"}), {headers: {Accept: "application/json"}})
          .then(function (resp) { return resp.ok ? resp.json() : {groups: []}; })
          .then(function (data) {
            if (q !== asked) { return; }   // a later keystroke has asked again
            while (list.firstChild) { list.removeChild(list.firstChild); }
            (data.groups || []).forEach(function (g) {
              if (!g.name) { return; }
              var option = document.createElement("option");
              option.value = g.name;
              list.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are a help, not a need: typing a name still works */ });
      }, 150);
    });
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("input[data-suggest-groups]"), attach);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

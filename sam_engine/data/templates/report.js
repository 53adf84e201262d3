/* fleetsam report: sorting, filtering, drill-down and paginated tables.
   Reads the JSON island (#report-data, see sam_engine/report/island.py html_view) and draws
   with textContent only: no string from the inventory is ever parsed as HTML. */
(function () {
  "use strict";
  var island = document.getElementById("report-data");
  var DATA = island ? JSON.parse(island.textContent) : {};
  var COL = DATA.columns || {};
  var PRODUCTS = DATA.products || {};
  var SHORT = {};  /* the statuses short of licences, named by the engine (vocabulary.NON_COMPLIANT) */
  (DATA.non_compliant || []).forEach(function (s) { SHORT[s] = 1; });
  var tables = {};

  /* The island writes each repeated string once (sam_engine/report/island.py INTERNED): those cells
     hold an index into DATA.strings, turned back into text here, once, before anything is drawn. */
  var STR = DATA.strings || [];
  function unpack(kind, rows) {
    var spec = (DATA.interned || {})[kind] || {};
    Object.keys(spec).forEach(function (name) {
      var i = COL[kind].indexOf(name), how = spec[name];
      rows.forEach(function (r) {
        if (how === "one") { r[i] = STR[r[i]]; }
        else if (how === "list") { r[i] = r[i].map(function (k) { return STR[k]; }); }
        else { r[i].forEach(function (inner) { how.forEach(function (p) { inner[p] = STR[inner[p]]; }); }); }
      });
    });
    return rows;
  }
  unpack("hosts", DATA.hosts || []);
  Object.keys(PRODUCTS).forEach(function (id) { unpack("product_hosts", PRODUCTS[id].hosts); });
  ["unrecognised", "distribution", "free"].forEach(function (k) { unpack("titles", DATA[k] || []); });
  unpack("changes", DATA.changes || []);

  function at(kind, name) { return COL[kind].indexOf(name); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function badge(cls, text) { return el("span", "badge " + cls, text); }
  function status(text) { return el("span", "status " + String(text).replace(/ /g, "-"), text); }
  function button(cls, text, onClick) {
    var b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }
  function num(v) {
    if (v === null || v === undefined || v === "") { return -Infinity; }
    var n = parseFloat(v);
    return isNaN(n) ? Infinity : n;  /* "unlimited" sorts last */
  }
  function fmt(v) { return v === null || v === undefined || v === "" ? "-" : String(v); }
  function byId(id) { return document.getElementById(id); }

  /* A table over island rows: filter, sort by column, pages of `size` rows, optional detail rows. */
  function Paged(opts) {
    var box = opts.box || byId(opts.id);
    if (!box) { return null; }
    var self = { rows: opts.rows, needle: "", test: null, sortAt: -1, dir: 1, page: 0, size: opts.size || 50 };
    var table = el("table", "grid cards"), thead = el("thead"), head = el("tr"), tbody = el("tbody");
    var pager = el("div", "pager"), prev = el("button", null, "‹ previous"), next = el("button", null, "next ›");
    var info = el("span"), counter = opts.count ? byId(opts.count) : null;
    prev.type = next.type = "button";
    var hay = self.rows.map(function (r) { return opts.text(r).toLowerCase(); });
    opts.columns.forEach(function (c, i) {
      var th = el("th", c.num && !c.left ? "n" : "", c.label);
      th.setAttribute("data-sort", c.num ? "num" : "text");
      th.addEventListener("click", function () {
        self.dir = self.sortAt === i ? -self.dir : 1;
        self.sortAt = i;
        Array.prototype.forEach.call(head.children, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", self.dir > 0 ? "ascending" : "descending");
        self.refresh(true);
      });
      head.appendChild(th);
    });
    thead.appendChild(head);
    table.appendChild(thead);
    table.appendChild(tbody);
    pager.appendChild(prev); pager.appendChild(info); pager.appendChild(next);
    box.appendChild(table);
    box.appendChild(pager);
    prev.addEventListener("click", function () { self.page -= 1; self.draw(); });
    next.addEventListener("click", function () { self.page += 1; self.draw(); });

    self.refresh = function (keepPage) {
      var needle = self.needle.toLowerCase(), picked = [];
      for (var i = 0; i < self.rows.length; i += 1) {
        if ((!needle || hay[i].indexOf(needle) !== -1) && (!self.test || self.test(self.rows[i]))) { picked.push(i); }
      }
      if (self.sortAt >= 0) {
        var c = opts.columns[self.sortAt], dir = self.dir;
        picked.sort(function (a, b) {
          var x = c.value(self.rows[a]), y = c.value(self.rows[b]);
          if (c.num) { x = num(x); y = num(y); } else { x = fmt(x).toLowerCase(); y = fmt(y).toLowerCase(); }
          return x < y ? -dir : x > y ? dir : a - b;
        });
      }
      self.view = picked;
      if (!keepPage) { self.page = 0; }
      self.draw();
    };
    self.draw = function () {
      var pages = Math.max(1, Math.ceil(self.view.length / self.size));
      self.page = Math.min(Math.max(self.page, 0), pages - 1);
      tbody.textContent = "";
      self.view.slice(self.page * self.size, (self.page + 1) * self.size).forEach(function (i) {
        var row = self.rows[i], tr = el("tr");
        opts.columns.forEach(function (c) {
          var td = el("td", c.num && !c.left ? "n" : "");
          td.setAttribute("data-label", c.label);  /* the column's name on a narrow screen's card */
          if (c.cell) { c.cell(td, row, tr); } else { td.textContent = fmt(c.value(row)); }
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      if (!self.view.length) {
        var td = el("td", "empty", opts.empty || "Nothing matches.");
        td.colSpan = opts.columns.length;
        tbody.appendChild(el("tr")).appendChild(td);
      }
      info.textContent = "page " + (self.page + 1) + " of " + pages;
      prev.disabled = self.page === 0;
      next.disabled = self.page >= pages - 1;
      pager.hidden = pages === 1;
      if (counter) { counter.textContent = self.view.length + " of " + self.rows.length + " " + opts.noun; }
    };
    if (opts.filter && byId(opts.filter)) {
      byId(opts.filter).addEventListener("input", function (ev) { self.needle = ev.target.value.trim(); self.refresh(); });
    }
    self.refresh();
    return self;
  }

  /* Toggle a detail row under `tr` holding `build()`'s node. */
  function toggleDetail(tr, span, build) {
    var next = tr.nextElementSibling;
    if (next && next.classList.contains("detail")) { next.remove(); return null; }
    var row = el("tr", "detail"), td = el("td");
    td.colSpan = span;
    td.appendChild(build());
    row.appendChild(td);
    tr.parentNode.insertBefore(row, tr.nextSibling);
    return row;
  }

  function traceList(lines) {
    var ul = el("ul", "trace");
    (lines || []).forEach(function (t) { ul.appendChild(el("li", null, t)); });
    return ul;
  }

  /* --- product drill-down ------------------------------------------------------------ */
  var ENTCOL = {};
  (COL.entitlements || []).forEach(function (n, i) { ENTCOL[n] = i; });
  var LONG_TOKENS = { origin: 1, purchase: 1, keys: 1 };  /* may break anywhere */
  var ENT_HEADS = [["label", "Entitlement"], ["origin", "Source"], ["metric", "Metric"], ["quantity", "Quantity"],
    ["counted", "Counted here"], ["term", "Term"], ["purchase", "Purchase"], ["unit_cost", "Unit cost"], ["keys", "Keys"]];
  var HOSTCOL = {};
  (COL.product_hosts || []).forEach(function (n, i) { HOSTCOL[n] = i; });
  var SRVCOL = {};
  (COL.product_servers || []).forEach(function (n, i) { SRVCOL[n] = i; });

  /* The physical servers a product's VMs pull in (host-level rules), and its VMs of unknown host. */
  function serverPart(p, box) {
    if (p.servers.length) {
      box.appendChild(el("h4", "part-servers", "Physical servers its VMs pull in: " + p.servers.length));
      Paged({ box: box.appendChild(el("div", "paged")), rows: p.servers, size: 25, noun: "servers",
        text: function (r) { return r[SRVCOL.server] + " " + r[SRVCOL.cluster] + " " + r[SRVCOL.guests]; },
        columns: [
          { label: "Server", value: function (r) { return r[SRVCOL.server]; } },
          { label: "Cluster", value: function (r) { return r[SRVCOL.cluster]; } },
          { label: "Rule", value: function (r) { return r[SRVCOL.rule]; } },
          { label: "Licences", num: true, value: function (r) { return r[SRVCOL.quantity]; } },
          { label: "Guests", value: function (r) { return r[SRVCOL.guests]; } },
          { label: "Arithmetic", value: function (r) { return r[SRVCOL.trace]; } }
        ] });
    }
    if (p.topology_unknown) {
      box.appendChild(el("p", "problems", "Host unknown, counted per VM (the count may be understated): " +
        p.topology_unknown));
    }
  }

  function productDetail(id) {
    var p = PRODUCTS[id], box = el("div", "detail-body");
    box.setAttribute("data-product", id);
    box.appendChild(el("h4", "part-hosts", "Consumption: " + fmt(p.consumption) + " " + fmt(p.metric) +
      " (metric rule " + p.rule + ") on " + p.hosts.length + " host(s)"));
    box.appendChild(traceList(p.trace));
    var holder = el("div", "paged");
    box.appendChild(holder);
    serverPart(p, box);
    box.appendChild(el("h4", "part-entitlements", "Owned: " + fmt(p.owned) + " (" + p.entitlements.length + " entitlement record(s); keys masked)"));
    if (p.entitlements.length) {
      var t = el("table", "grid ents cards"), h = el("tr"), body = el("tbody"), frame = el("div", "table-box");
      ENT_HEADS.forEach(function (c) { h.appendChild(el("th", null, c[1])); });
      t.appendChild(el("thead")).appendChild(h);
      p.entitlements.forEach(function (e) {
        var tr = el("tr");
        ENT_HEADS.forEach(function (c) {
          var td = el("td", LONG_TOKENS[c[0]] ? "wrap" : "", fmt(e[ENTCOL[c[0]]]));
          td.setAttribute("data-label", c[1]);
          if (c[0] === "label") { td.title = "entitlement " + e[ENTCOL.entitlement_id]; }  /* the id, on hover */
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      t.appendChild(body);
      frame.appendChild(t);
      box.appendChild(frame);
    }
    box.appendChild(traceList(p.ownership));
    if (p.cost.length) { box.appendChild(el("h4", "part-cost", "Gap cost")); box.appendChild(traceList(p.cost)); }
    if (p.notes.length) { box.appendChild(el("h4", null, "Notes")); box.appendChild(traceList(p.notes)); }
    Paged({ box: holder, rows: p.hosts, size: 25, noun: "hosts",
      text: function (r) { return r[HOSTCOL.host] + " " + r[HOSTCOL.versions]; },
      columns: [
        { label: "Host", value: function (r) { return r[HOSTCOL.host]; }, cell: function (td, r) {
          td.appendChild(button("num-drill host-link", r[HOSTCOL.host], function () { showHost(r[HOSTCOL.host]); }));
          if (r[HOSTCOL.stale]) { td.appendChild(document.createTextNode(" ")); td.appendChild(badge("stale", "stale: scan " + r[HOSTCOL.scan_id])); }
        } },
        { label: "Versions", value: function (r) { return r[HOSTCOL.versions]; } },
        { label: "Installations", num: true, value: function (r) { return r[HOSTCOL.installations]; } },
        { label: "Licences", num: true, value: function (r) { return r[HOSTCOL.quantity]; } },
        { label: "Arithmetic", value: function (r) { return r[HOSTCOL.trace]; } }
      ] });
    return box;
  }

  function openProduct(id, part) {
    var tr = document.querySelector('#position-table tr.prod[data-id="' + id + '"]');
    if (!tr || !PRODUCTS[id]) { return; }
    tr.hidden = false;
    var open = tr.nextElementSibling && tr.nextElementSibling.classList.contains("detail");
    var btn = tr.querySelector("button.drill");
    if (!open) { toggleDetail(tr, tr.children.length, function () { return productDetail(id); }); }
    btn.setAttribute("aria-expanded", "true");
    var target = tr.nextElementSibling.querySelector(".part-" + (part || "hosts")) || tr;
    target.scrollIntoView({ block: "nearest" });
  }

  /* --- the position table: filter, sort, drill ------------------------------------- */
  function positionTable() {
    var table = byId("position-table");
    if (!table) { return; }
    var tbody = table.tBodies[0], rows = Array.prototype.slice.call(tbody.querySelectorAll("tr.prod"));
    var filter = byId("pos-filter"), state = byId("pos-status"), pub = byId("pos-publisher"), count = byId("pos-count");
    function apply() {
      var needle = filter.value.trim().toLowerCase(), s = state.value, p = pub.value, shown = 0;
      rows.forEach(function (tr) {
        var ok = (!needle || tr.textContent.toLowerCase().indexOf(needle) !== -1) &&
          (!s || (s === "non-compliant" ? SHORT[tr.dataset.status] : s === "priced" ? tr.dataset.priced : tr.dataset.status === s)) &&
          (!p || tr.dataset.publisher === p);
        tr.hidden = !ok;
        var d = tr.nextElementSibling;
        if (d && d.classList.contains("detail")) { d.hidden = !ok; }
        if (ok) { shown += 1; }
      });
      count.textContent = shown + " of " + rows.length + " products";
    }
    [filter, state, pub].forEach(function (c) { c.addEventListener(c === filter ? "input" : "change", apply); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1, isNum = th.dataset.sort === "num";
        Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        function key(tr) {
          var td = tr.cells[i], v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent.trim();
          return isNum ? num(v) : v.toLowerCase();
        }
        var order = rows.map(function (tr, n) { return [key(tr), n, tr]; });
        order.sort(function (a, b) { return a[0] < b[0] ? -dir : a[0] > b[0] ? dir : a[1] - b[1]; });
        order.forEach(function (o) {
          var d = o[2].nextElementSibling, detail = d && d.classList.contains("detail") ? d : null;
          tbody.appendChild(o[2]);
          if (detail) { tbody.appendChild(detail); }
        });
      });
    });
    tbody.addEventListener("click", function (ev) {
      var b = ev.target.closest("button.drill, button.num-drill");
      if (!b || !b.dataset.id) { return; }
      var tr = b.closest("tr.prod"), d = tr.nextElementSibling;
      if (b.classList.contains("drill") && d && d.classList.contains("detail")) {
        d.remove();
        b.setAttribute("aria-expanded", "false");
        return;
      }
      openProduct(b.dataset.id, b.dataset.part);
    });
    apply();
    tables.position = { filter: filter, state: state, pub: pub, apply: apply };
  }

  /* --- host view ------------------------------------------------------------------ */
  function hostDetail(r) {
    var H = function (n) { return r[at("hosts", n)]; }, box = el("div", "detail-body");
    box.appendChild(el("p", "meta", "Identity " + fmt(H("host_id")) + " · " + fmt(H("cpu")) +
      (H("memory_mb") ? " · " + H("memory_mb") + " MiB" : "") + " · inventory from scan " + H("inventory_scan_id")));
    if (H("error")) { box.appendChild(el("p", "problems", H("error"))); }
    var lic = H("licensable");
    box.appendChild(el("h4", null, lic.length ? "Licensable products on this host" : "No licensable product on this host"));
    var ul = el("ul");
    lic.forEach(function (x) {
      var li = el("li"), p = PRODUCTS[x[0]];
      li.appendChild(button("num-drill", p ? p.label : x[0], function () { showProduct(x[0]); }));
      li.appendChild(document.createTextNode(" " + x[1] + " · licences: " + fmt(x[2]) + " "));
      if (p) { li.appendChild(status(p.status)); }
      ul.appendChild(li);
    });
    box.appendChild(ul);
    var users = H("users");
    box.appendChild(el("h4", null, users === null ? "Users: not reported by this host's collector" :
      users.length ? "Users of this host" : "Users: no person uses this host"));
    if (users && users.length) {
      var ulu = el("ul");
      users.forEach(function (u) {
        var li = el("li", null, u[0] + " · " + u[1] + " · last login ");
        if (u[2]) {
          var t = el("time", null, u[2]);
          t.setAttribute("datetime", u[2]);
          localTime(t, Date.now());
          li.appendChild(t);
        } else { li.appendChild(document.createTextNode("none recorded")); }
        li.appendChild(document.createTextNode(" (" + u[3] + ")"));
        ulu.appendChild(li);
      });
      box.appendChild(ulu);
    }
    return box;
  }

  function hostView() {
    var H = function (n) { var i = at("hosts", n); return function (r) { return r[i]; }; };
    var name = H("host"), st = H("status"), stale = H("stale"), lic = H("licensable");
    var t = Paged({ id: "hosts-table", rows: DATA.hosts || [], filter: "hosts-filter", count: "hosts-count", noun: "hosts", size: 50,
      text: function (r) {
        return [name(r), st(r), H("os")(r), H("platform")(r)].concat(lic(r).map(function (x) {
          return PRODUCTS[x[0]] ? PRODUCTS[x[0]].label : ""; })).join(" ");
      },
      columns: [
        { label: "Host", value: name, cell: function (td, r, tr) {
          td.appendChild(button("drill", name(r), function () { toggleDetail(tr, tr.children.length, function () { return hostDetail(r); }); }));
        } },
        { label: "Status", value: st, cell: function (td, r) {
          td.appendChild(badge(st(r), st(r)));
          if (stale(r)) { td.appendChild(document.createTextNode(" ")); td.appendChild(badge("stale", "stale")); }
        } },
        { label: "OS", value: H("os") },
        { label: "Platform", value: H("platform") },
        { label: "Sockets", num: true, value: H("sockets") },
        { label: "Cores", num: true, value: H("cores") },
        { label: "Threads", num: true, value: H("threads") },
        { label: "Packages", num: true, value: H("packages") },
        { label: "Licensable products", num: true, left: true, value: function (r) { return lic(r).length; }, cell: function (td, r) {
          td.textContent = lic(r).map(function (x) { return PRODUCTS[x[0]] ? PRODUCTS[x[0]].label : x[0]; }).join(", ") || "-";
          td.className = "wrap";
        } },
        { label: "Inventory from scan", value: H("inventory_scan_id") }
      ] });
    var sel = byId("hosts-status");
    if (t && sel) {
      sel.addEventListener("change", function () {
        var v = sel.value;
        t.test = !v ? null : function (r) { return v === "stale" ? stale(r) : st(r) === v; };
        t.refresh();
      });
    }
    tables.hosts = t;
  }

  function showHost(host) {
    var f = byId("hosts-filter"), sel = byId("hosts-status");
    if (!f || !tables.hosts) { return; }
    sel.value = ""; tables.hosts.test = null;
    f.value = host; tables.hosts.needle = host; tables.hosts.refresh();
    byId("hosts").scrollIntoView();
  }

  function showProduct(id) {
    var p = tables.position;
    if (p) { p.filter.value = ""; p.state.value = ""; p.pub.value = ""; p.apply(); }
    openProduct(id, "hosts");
  }

  /* --- titles and changes ---------------------------------------------------------- */
  function titles(kind) {
    var I = function (n) { var i = at("titles", n); return function (r) { return r[i]; }; };
    Paged({ id: kind + "-table", rows: DATA[kind] || [], filter: kind + "-filter", count: kind + "-count",
      noun: "titles", size: 25, empty: "No title.",
      text: function (r) { return [I("publisher")(r), I("product")(r), I("versions")(r)].join(" "); },
      columns: [
        { label: "Publisher", value: I("publisher") },
        { label: "Title", value: I("product") },
        { label: "Installations", num: true, value: I("installations") },
        { label: "Hosts", num: true, value: I("hosts") },
        { label: "Versions", value: I("versions") },
        { label: "On hosts", value: function (r) {  /* a few hosts by name, then how many more */
          var names = I("host_sample")(r), more = I("hosts")(r) - names.length;
          return names.join(", ") + (more > 0 ? " … and " + more.toLocaleString("en-US") + " more" : "");
        } }
      ] });
  }

  function changes() {
    var C = function (n) { var i = at("changes", n); return function (r) { return r[i]; }; };
    Paged({ id: "changes-table", rows: DATA.changes || [], filter: "changes-filter", count: "changes-count",
      noun: "hosts", size: 25,
      text: function (r) { return [C("host")(r), C("added_sample")(r), C("removed_sample")(r), C("changed_sample")(r)].join(" "); },
      columns: [
        { label: "Host", value: C("host") },
        { label: "Change", value: C("change"), cell: function (td, r) { td.appendChild(badge("changed", C("change")(r))); } },
        { label: "Status", value: function (r) { return C("status_before")(r) + " → " + C("status_after")(r); } },
        { label: "Added", num: true, value: C("added") },
        { label: "Removed", num: true, value: C("removed") },
        { label: "Version changes", num: true, value: C("changed") },
        { label: "Installations", value: C("host"), cell: function (td, r) {
          td.className = "wrap";
          [["added", "added_sample"], ["removed", "removed_sample"], ["changed", "changed_sample"]].forEach(function (k) {
            if (C(k[1])(r)) { var d = el("div"); d.appendChild(el("b", null, k[0] + ": ")); d.appendChild(document.createTextNode(C(k[1])(r))); td.appendChild(d); }
          });
        } }
      ] });
  }

  /* --- timestamps --------------------------------------------------------------------- */
  /* Local time and how long ago, worked out when the page is read rather than when it was written (a
     report is opened days later; a relative time fixed at generation would be wrong by then). The exact
     ISO time stays as the tooltip; without script the page shows the ISO time itself. */
  var UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  function ago(seconds) {
    var s = Math.abs(seconds);
    for (var i = 0; i < UNITS.length; i += 1) {
      var n = Math.floor(s / UNITS[i][1]);
      if (n >= 1) {
        var text = n + " " + UNITS[i][0] + (n === 1 ? "" : "s");
        return seconds < 0 ? "in " + text : text + " ago";
      }
    }
    return "just now";
  }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function localTime(t, now) {
    var iso = t.getAttribute("datetime"), when = Date.parse(iso);
    if (isNaN(when)) { return; }
    var d = new Date(when);
    t.title = iso;
    t.textContent = d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes()) + " (" + ago((now - when) / 1000) + ")";
  }
  function localTimes() {
    var now = Date.now();
    document.querySelectorAll("time[datetime]").forEach(function (t) { localTime(t, now); });
  }

  /* --- tiles and chart bars drill into the sections --------------------------------- */
  function drills() {
    document.querySelectorAll("a.tile[data-drill]").forEach(function (a) {
      a.addEventListener("click", function () {
        var section = a.dataset.drill, value = a.dataset.status || "";
        if (section === "hosts" && tables.hosts) {
          byId("hosts-status").value = value;
          byId("hosts-status").dispatchEvent(new Event("change"));
        } else if (section === "position" && tables.position) {
          tables.position.state.value = value;
          tables.position.apply();
        }
      });
    });
    document.querySelectorAll("g.bar-row").forEach(function (g) {
      g.addEventListener("click", function () {
        var p = tables.position;
        if (!p) { return; }
        p.pub.value = g.dataset.publisher;
        p.state.value = "";
        p.apply();
        byId("position").scrollIntoView();
      });
    });
  }

  positionTable();
  hostView();
  titles("unrecognised");
  titles("distribution");
  titles("free");
  changes();
  drills();
  localTimes();
}());

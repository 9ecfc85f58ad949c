/* senderid console and developer inbox: copy buttons, and the inbox's live list.
   No framework, no build step. Text from the server is only ever set with
   textContent, never parsed as HTML. */
(function () {
  "use strict";

  // -- copy buttons: data-copy="#input-id" copies that input, data-copy-text copies the text --
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    document.body.removeChild(area);
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function announce(button, label) {
    if (!button.dataset.label) { button.dataset.label = button.textContent; }
    button.textContent = label;
    window.setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-text]");
    if (!button) { return; }
    var text = button.getAttribute("data-copy-text");
    if (text === null) {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source) { return; }
      source.select();
      text = source.value;
    }
    copyText(text).then(
      function () { announce(button, "Copied"); },
      function () { announce(button, "Press Ctrl+C to copy"); }
    );
  });

  // -- confirmations: a form with data-confirm="question" is sent only when the question is
  //    answered OK (revoking a key, approving a business name) --
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
  });

  // -- the developer inbox: poll the JSON every 2 seconds, redraw when it changes --
  var list = document.getElementById("inbox");
  if (!list) { return; }
  var statusLine = document.getElementById("inbox-status");
  var CODE = /(?<!\d)\d{6}(?!\d)/;  // the same pattern as console/inbox.py
  var last = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function when(iso) {
    return iso.slice(0, 19).replace("T", " ") + " UTC";
  }

  function item(message) {
    var li = el("li", "sms");
    var meta = el("p", "meta");
    meta.appendChild(document.createTextNode("To "));
    meta.appendChild(el("strong", "", message.to));
    meta.appendChild(document.createTextNode(" from "));
    meta.appendChild(el("strong", "", message.sender));
    meta.appendChild(document.createTextNode(" · "));
    var time = el("time", "", when(message.created_at));
    time.setAttribute("datetime", message.created_at);
    meta.appendChild(time);
    meta.appendChild(document.createTextNode(" · message "));
    meta.appendChild(el("code", "mono", message.id));
    li.appendChild(meta);

    var body = el("p", "body");
    var found = CODE.exec(message.body);
    if (found) {
      body.appendChild(document.createTextNode(message.body.slice(0, found.index)));
      body.appendChild(el("mark", "otp", found[0]));
      body.appendChild(document.createTextNode(message.body.slice(found.index + found[0].length)));
      li.appendChild(body);
      var button = el("button", "button copy-code", "Copy code ");
      button.type = "button";
      button.setAttribute("data-copy-text", found[0]);
      button.appendChild(el("span", "mono", found[0]));
      li.appendChild(button);
    } else {
      body.textContent = message.body;
      li.appendChild(body);
    }
    return li;
  }

  function draw(messages) {
    var focused = document.activeElement;
    var focusedCode = focused && focused.getAttribute ? focused.getAttribute("data-copy-text") : null;
    var to = list.getAttribute("data-to");
    var items = messages.length
      ? messages.map(item)
      : [el("li", "empty", to ? "No SMS to " + to + "." : "No SMS yet. Register a number and its code appears here.")];
    list.replaceChildren.apply(list, items);
    var older = document.getElementById("inbox-older");
    if (older) {  // the next page starts after the last SMS shown now
      var full = messages.length >= Number(list.getAttribute("data-page-size"));
      older.hidden = !full;
      if (full) {
        var query = new URLSearchParams(to ? { to: to } : {});
        query.set("before", messages[messages.length - 1].seq);
        older.setAttribute("href", "/dev/inbox?" + query.toString());
      }
    }
    if (focusedCode) {  // keep the keyboard where it was
      var again = list.querySelector('[data-copy-text="' + focusedCode + '"]');
      if (again) { again.focus(); }
    }
  }

  function refresh() {
    return fetch(list.getAttribute("data-source"), { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (text) {
        statusLine.textContent = "";
        if (text !== last) {
          last = text;
          draw(JSON.parse(text));
        }
      })
      .catch(function () { statusLine.textContent = "The server is not answering; still trying…"; });
  }

  function loop() {
    var next = function () { window.setTimeout(loop, 2000); };
    if (document.hidden) { next(); return; }
    refresh().then(next, next);
  }

  var clear = document.getElementById("inbox-clear");
  if (clear) {
    clear.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(clear.getAttribute("action"), { method: "POST" })
        .then(refresh)
        .then(function () { statusLine.textContent = "Inbox cleared."; });
    });
  }

  window.setTimeout(loop, 2000);
}());
